"""The check-in schedule engine: which occurrences fall due, once, while still open."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.assessments import schedule_rules as sr
from tests.unit.test_pure_modules import imported_modules

NY = ZoneInfo("America/New_York")
RULES = sr.Rules(link_valid=timedelta(hours=72), weekly_at=time(9, 0), tz=NY)
PATIENT = 7


def at(text: str) -> datetime:
    """A moment in clinic time, e.g. '2026-11-23 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=NY)


def schedule(kind, offset=0, starts_on=date(2026, 11, 1), ended_at=None, sid=1, patient=PATIENT):
    return sr.Schedule(
        id=sid,
        patient_id=patient,
        kind=kind,
        offset_hours=offset,
        starts_on=starts_on,
        ended_at=ended_at,
        instruments=("gad7",),
    )


def session(sid, start, patient=PATIENT):
    return sr.Session(id=sid, patient_id=patient, starts_at=at(start))


def made(schedules, sessions, now, existing=None):
    found = sr.due_occurrences(schedules, sessions, existing or {}, at(now), RULES)
    return [(o.key, o.due_at, o.expires_at, o.timepoint) for o in found]


def test_module_imports_nothing_from_django():
    # Arrange
    path = Path(sr.__file__)

    # Act
    modules = imported_modules(path)

    # Assert
    assert not {m for m in modules if m.split(".")[0] in {"django", "ninja"}}
    assert not {m for m in modules if m.startswith("kapstone.")}


SESSION_41 = session(41, "2026-11-25 10:00")

CASES = [
    # (id, schedules, sessions, now, expected [(key, due, expires, timepoint)])
    (
        "pre-dose falls due its lead time before the session and closes at the start",
        [schedule("before_dosing", 24)],
        [SESSION_41],
        "2026-11-24 10:00",
        [
            (
                "dose:41:pre",
                at("2026-11-24 10:00"),
                at("2026-11-25 10:00"),
                "pre_dose",
            )
        ],
    ),
    (
        "pre-dose not yet due",
        [schedule("before_dosing", 24)],
        [SESSION_41],
        "2026-11-24 09:59",
        [],
    ),
    (
        "pre-dose never made once the session has started",
        [schedule("before_dosing", 24)],
        [SESSION_41],
        "2026-11-25 10:00",
        [],
    ),
    (
        "24 hours after",
        [schedule("after_dosing", 24)],
        [SESSION_41],
        "2026-11-26 10:30",
        [("dose:41:+24h", at("2026-11-26 10:00"), at("2026-11-29 10:00"), "post_24h")],
    ),
    (
        "7 days after",
        [schedule("after_dosing", 168)],
        [SESSION_41],
        "2026-12-02 10:00",
        [("dose:41:+168h", at("2026-12-02 10:00"), at("2026-12-05 10:00"), "post_7d")],
    ),
    (
        "another offset is filed as other",
        [schedule("after_dosing", 48)],
        [SESSION_41],
        "2026-11-27 11:00",
        [("dose:41:+48h", at("2026-11-27 10:00"), at("2026-11-30 10:00"), "other")],
    ),
    (
        "an occurrence past its link lifetime is never made",
        [schedule("after_dosing", 24)],
        [SESSION_41],
        "2026-11-29 10:00",
        [],
    ),
    (
        "sessions before the schedule's start date are not followed",
        [schedule("after_dosing", 24, starts_on=date(2026, 11, 26))],
        [SESSION_41],
        "2026-11-26 10:30",
        [],
    ),
    (
        "another patient's session is not followed",
        [schedule("after_dosing", 24)],
        [session(42, "2026-11-25 10:00", patient=8)],
        "2026-11-26 10:30",
        [],
    ),
    (
        "an ended schedule makes nothing falling due after its end",
        [schedule("after_dosing", 24, ended_at=at("2026-11-26 09:00"))],
        [SESSION_41],
        "2026-11-26 10:30",
        [],
    ),
    (
        "an ended schedule still makes what fell due before its end",
        [schedule("after_dosing", 24, ended_at=at("2026-11-26 11:00"))],
        [SESSION_41],
        "2026-11-26 12:00",
        [("dose:41:+24h", at("2026-11-26 10:00"), at("2026-11-29 10:00"), "post_24h")],
    ),
    (
        "weekly: the start day at the weekly hour",
        [schedule("weekly", starts_on=date(2026, 11, 23))],
        [],
        "2026-11-23 09:00",
        [("week:2026-11-23", at("2026-11-23 09:00"), at("2026-11-26 09:00"), "weekly")],
    ),
    (
        "weekly: not before the hour",
        [schedule("weekly", starts_on=date(2026, 11, 23))],
        [],
        "2026-11-23 08:59",
        [],
    ),
    (
        "weekly: only the week still open, not the ones missed",
        [schedule("weekly", starts_on=date(2026, 11, 2))],
        [],
        "2026-11-24 12:00",
        [("week:2026-11-23", at("2026-11-23 09:00"), at("2026-11-26 09:00"), "weekly")],
    ),
    (
        "weekly: between weeks' links, nothing",
        [schedule("weekly", starts_on=date(2026, 11, 2))],
        [],
        "2026-11-27 12:00",
        [],
    ),
    (
        "weekly across the change from summer time keeps the local hour",
        [schedule("weekly", starts_on=date(2026, 10, 26))],
        [],
        "2026-11-02 09:30",
        [("week:2026-11-02", at("2026-11-02 09:00"), at("2026-11-05 09:00"), "weekly")],
    ),
    (
        "weekly: a start date in the future makes nothing yet",
        [schedule("weekly", starts_on=date(2026, 12, 1))],
        [],
        "2026-11-24 12:00",
        [],
    ),
    (
        "the clinic default: before, 24 h and 7 days after, in due order",
        [
            schedule("after_dosing", 168, sid=3),
            schedule("after_dosing", 24, sid=2),
            schedule("before_dosing", 24, sid=1),
        ],
        [session(41, "2026-11-25 10:00"), session(40, "2026-11-19 10:00")],
        "2026-11-26 10:00",
        [
            ("dose:41:+24h", at("2026-11-26 10:00"), at("2026-11-29 10:00"), "post_24h"),
            ("dose:40:+168h", at("2026-11-26 10:00"), at("2026-11-29 10:00"), "post_7d"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("schedules", "sessions", "now", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_due_occurrences(schedules, sessions, now, expected):
    # Act
    found = made(schedules, sessions, now)

    # Assert
    assert found == expected


def test_existing_occurrences_are_not_made_again():
    # Arrange
    schedules = [schedule("after_dosing", 24)]

    # Act
    found = made(schedules, [SESSION_41], "2026-11-26 10:30", existing={1: {"dose:41:+24h"}})

    # Assert
    assert found == []


def test_another_schedules_key_does_not_count():
    # Arrange
    schedules = [schedule("after_dosing", 24, sid=1)]

    # Act
    found = made(schedules, [SESSION_41], "2026-11-26 10:30", existing={2: {"dose:41:+24h"}})

    # Assert
    assert [key for key, *_ in found] == ["dose:41:+24h"]


def test_a_naive_now_is_refused():
    # Act / Assert
    with pytest.raises(ValueError, match="time zone"):
        sr.due_occurrences([], [], {}, datetime(2026, 11, 26, 10), RULES)


@pytest.mark.parametrize(
    ("schedules", "expected"),
    [
        ([schedule("weekly")], None),
        (
            [schedule("before_dosing", 24), schedule("after_dosing", 168)],
            (at("2026-11-26 10:00") - timedelta(hours=168 + 72), at("2026-11-27 10:00")),
        ),
    ],
    ids=["weekly only", "before and after"],
)
def test_session_window(schedules, expected):
    # Act
    window = sr.session_window(schedules, at("2026-11-26 10:00"), RULES)

    # Assert
    assert window == expected


# Properties: any schedules, sessions and moment.

START = datetime(2026, 11, 1, tzinfo=UTC)
kinds = st.sampled_from(sr.KINDS)
schedules_st = st.lists(
    st.builds(
        lambda i, kind, offset, start_day, end: schedule(
            kind,
            0 if kind == "weekly" else offset,
            starts_on=(START + timedelta(days=start_day)).date(),
            ended_at=None if end is None else START + timedelta(hours=end),
            sid=i,
            patient=i % 2,
        ),
        st.integers(1, 6),
        kinds,
        st.integers(1, 400),
        st.integers(0, 40),
        st.none() | st.integers(0, 60 * 24),
    ),
    max_size=5,
    unique_by=lambda s: s.id,
)
sessions_st = st.lists(
    st.builds(
        lambda i, hours, patient: sr.Session(i, patient, START + timedelta(hours=hours)),
        st.integers(1, 50),
        st.integers(0, 60 * 24),
        st.integers(0, 1),
    ),
    max_size=8,
    unique_by=lambda s: s.id,
)
moments = st.integers(0, 60 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))


def _keys(occurrences):
    existing: dict[int, set[str]] = {}
    for occurrence in occurrences:
        existing.setdefault(occurrence.schedule_id, set()).add(occurrence.key)
    return existing


@settings(max_examples=150, deadline=None)
@given(schedules_st, sessions_st, moments)
def test_running_again_makes_nothing_more(schedules, sessions, now):
    # Arrange
    first = sr.due_occurrences(schedules, sessions, {}, now, RULES)

    # Act
    second = sr.due_occurrences(schedules, sessions, _keys(first), now, RULES)

    # Assert
    assert second == []


@settings(max_examples=150, deadline=None)
@given(schedules_st, sessions_st, moments)
def test_no_duplicates_and_in_due_order(schedules, sessions, now):
    # Act
    found = sr.due_occurrences(schedules, sessions, {}, now, RULES)

    # Assert
    keys = [(o.schedule_id, o.key) for o in found]
    assert len(keys) == len(set(keys))
    assert [o.due_at for o in found] == sorted(o.due_at for o in found)


@settings(max_examples=150, deadline=None)
@given(schedules_st, sessions_st, moments)
def test_every_occurrence_is_open_now_and_before_any_end(schedules, sessions, now):
    # Arrange
    ends = {s.id: s.ended_at for s in schedules}

    # Act
    found = sr.due_occurrences(schedules, sessions, {}, now, RULES)

    # Assert
    for occurrence in found:
        assert occurrence.due_at <= now < occurrence.expires_at
        assert occurrence.expires_at - occurrence.due_at <= RULES.link_valid
        assert (
            ends[occurrence.schedule_id] is None or occurrence.due_at < ends[occurrence.schedule_id]
        )


@settings(max_examples=100, deadline=None)
@given(schedules_st, sessions_st, moments)
def test_pre_dose_answers_close_before_the_dose(schedules, sessions, now):
    # Arrange
    starts = {s.id: s.starts_at for s in sessions}

    # Act
    found = sr.due_occurrences(schedules, sessions, {}, now, RULES)

    # Assert
    for occurrence in found:
        if occurrence.timepoint == "pre_dose":
            session_id = int(occurrence.key.split(":")[1])
            assert occurrence.expires_at <= starts[session_id]


@settings(max_examples=100, deadline=None)
@given(schedules_st, sessions_st, st.lists(moments, min_size=2, max_size=6))
def test_running_every_so_often_makes_each_occurrence_once(schedules, sessions, nows):
    # Arrange
    existing: dict[int, set[str]] = {}
    made_keys = []

    # Act
    for now in sorted(nows):
        for occurrence in sr.due_occurrences(schedules, sessions, existing, now, RULES):
            made_keys.append((occurrence.schedule_id, occurrence.key))
            existing.setdefault(occurrence.schedule_id, set()).add(occurrence.key)

    # Assert
    assert len(made_keys) == len(set(made_keys))


@settings(max_examples=100, deadline=None)
@given(schedules_st, sessions_st, moments)
def test_window_holds_every_session_that_makes_something(schedules, sessions, now):
    # Arrange
    window = sr.session_window(schedules, now, RULES)
    starts = {s.id: s.starts_at for s in sessions}

    # Act
    found = sr.due_occurrences(schedules, sessions, {}, now, RULES)

    # Assert
    for occurrence in found:
        if occurrence.key.startswith("dose:"):
            start = starts[int(occurrence.key.split(":")[1])]
            assert window[0] <= start <= window[1]
