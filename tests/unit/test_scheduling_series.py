"""A patient's series: generation from the plan, the rules, one occurrence versus the series,
and conflicts."""

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.scheduling import series as s
from kapstone.scheduling.rules import Kind

MON_SAT = s.OpeningHours.weekdays(time(8), time(18), range(6))
MON_FRI = s.OpeningHours.weekdays(time(8), time(18))
MONDAY = date(2026, 3, 2)
RULES = s.default_rules()


def plan(**changes):
    base = s.SeriesPlan(
        series_id="s1",
        program="intensive_retreat",
        sessions_per_week=Decimal(3),
        weeks=2,
        start=MONDAY,
        weekdays=(0, 2, 4),
        dosing_time=time(9),
        integration_time=time(14),
        patient="p1",
        route="iv",
        modality="emdr",
    )
    return replace(base, **changes)


def at(text):
    return datetime.fromisoformat(text)


def test_defaults_say_they_have_no_source():
    assert RULES.integration_min_hours == 24
    assert RULES.integration_max_hours == 72
    assert RULES.min_spacing_hours == 24
    assert RULES.integration_before_next_dosing
    assert RULES.source.count("no source in clinical-facts.md; clinic to set") == 2


def test_retreat_series_alternates_dosing_and_integration():
    series = s.generate(plan(), MON_SAT)
    assert [o.kind for o in series] == [Kind.DOSING, Kind.INTEGRATION] * 6
    assert [o.index for o in series] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert [o.start for o in series[:2]] == [at("2026-03-02 09:00"), at("2026-03-03 14:00")]
    assert series[4].start == at("2026-03-06 09:00")  # Friday's dosing
    assert series[5].start == at("2026-03-07 14:00")  # its integration on Saturday
    assert series[0].end - series[0].start == timedelta(minutes=120)
    assert {o.patient for o in series} == {"p1"}
    assert {o.uid for o in series} >= {"s1-dosing-1", "s1-integration-6"}
    assert s.series_problems(series, MON_SAT, RULES) == []


@pytest.mark.parametrize(
    ("changes", "dates"),
    [
        # Standard program, weekly on Tuesdays: five dosing sessions from the start date on.
        (
            {"program": "standard", "sessions_per_week": Decimal(1), "weeks": None, "count": 3,
             "weekdays": (1,)},
            ["2026-03-03", "2026-03-10", "2026-03-17"],
        ),
        # Fortnightly maintenance.
        (
            {"program": "maintenance", "sessions_per_week": Decimal("0.5"), "weeks": None,
             "count": 3, "weekdays": (2,)},
            ["2026-03-04", "2026-03-18", "2026-04-01"],
        ),
        # Starting midweek: the first week's earlier weekdays are skipped.
        (
            {"start": date(2026, 3, 4), "count": 3},
            ["2026-03-04", "2026-03-06", "2026-03-09"],
        ),
    ],
)  # fmt: skip
def test_dosing_dates_follow_the_program(changes, dates):
    series = s.generate(plan(**changes), MON_SAT)
    dosings = [o.start.date().isoformat() for o in series if o.kind is Kind.DOSING]
    assert dosings == dates


@pytest.mark.parametrize(
    ("changes", "opening", "field"),
    [
        ({"sessions_per_week": Decimal(6)}, MON_SAT, "sessions_per_week"),  # retreat: 3 to 5
        ({"weeks": 3}, MON_SAT, "weeks"),
        ({"program": "weekly"}, MON_SAT, "program"),
        ({"weekdays": (0, 1)}, MON_SAT, "weekdays"),  # three a week need three weekdays
        ({"weekdays": (0, 2, 6)}, MON_SAT, "weekdays"),  # closed on Sundays
        ({"dosing_time": time(17)}, MON_SAT, "dosing_time"),  # runs past closing
        # Friday's dosing: Saturday closed, Monday 14:00 is 77 hours on: outside 24-72.
        ({}, MON_FRI, "integration_window"),
        ({"weeks": None}, MON_SAT, "count"),
        ({"count": 0}, MON_SAT, "count"),
    ],
)
def test_refused_plans_name_the_field(changes, opening, field):
    with pytest.raises(InvalidInput) as error:
        s.generate(plan(**changes), opening)
    assert error.value.field == field


def test_spacing_is_enforced_between_preferred_weekdays():
    rules = s.default_rules(min_spacing_hours=Decimal(48))
    with pytest.raises(InvalidInput) as error:
        s.generate(plan(weekdays=(0, 1, 3)), MON_SAT, rules)  # Monday to Tuesday: 24 hours
    assert error.value.field == "weekdays"
    assert "48 hours" in error.value.message


def test_integration_comes_before_the_next_dosing():
    # A 96-hour window reaches Monday 14:00, but Monday's dosing is at 09:00.
    wide = s.default_rules(integration_max_hours=Decimal(96))
    with pytest.raises(InvalidInput) as error:
        s.generate(plan(), MON_FRI, wide)
    assert error.value.field == "integration_window"
    assert "before the next one" in error.value.message
    relaxed = s.default_rules(
        integration_max_hours=Decimal(96), integration_before_next_dosing=False
    )
    series = s.generate(plan(), MON_FRI, relaxed)
    assert series[5].start == at("2026-03-09 14:00")


def test_move_one_occurrence_leaves_the_rest():
    series = s.generate(plan(), MON_SAT)
    moved = s.move_occurrence(series, "s1-integration-1", at("2026-03-03 16:00"), MON_SAT)
    assert moved[1].start == at("2026-03-03 16:00")
    assert moved[1].end == at("2026-03-03 17:00")
    assert [o.start for o in moved[2:]] == [o.start for o in series[2:]]


@pytest.mark.parametrize(
    ("uid", "new_start", "fields"),
    [
        ("s1-integration-1", "2026-03-02 16:00", {"integration_window"}),  # 7 h after
        ("s1-integration-1", "2026-03-04 10:00", {"integration_window", "patient"}),
        ("s1-integration-1", "2026-03-03 17:30", {"opening_hours"}),
        ("s1-dosing-2", "2026-03-02 15:00", {"dosing_spacing", "integration_window"}),
        ("s1-dosing-2", "2026-03-03 10:00", {"integration_window"}),  # before integration 1
        ("s1-dosing-2", "2026-03-08 09:00", {"opening_hours", "integration_window"}),  # Sunday
    ],
)
def test_move_one_occurrence_is_checked(uid, new_start, fields):
    series = s.generate(plan(), MON_SAT)
    with pytest.raises(InvalidInputs) as error:
        s.move_occurrence(series, uid, at(new_start), MON_SAT)
    assert {e.field for e in error.value.errors} == fields


def test_shift_the_series_from_an_occurrence_onward():
    series = s.generate(plan(), MON_SAT)
    shifted = s.shift_from(series, "s1-dosing-4", timedelta(hours=2), MON_SAT)
    assert [o.start for o in shifted[:6]] == [o.start for o in series[:6]]
    assert [o.start for o in shifted[6:]] == [o.start + timedelta(hours=2) for o in series[6:]]


def test_shifting_the_series_is_checked_too():
    series = s.generate(plan(), MON_SAT)
    with pytest.raises(InvalidInputs) as error:
        s.shift_from(series, "s1-dosing-2", timedelta(hours=9), MON_SAT)  # dosing at 18:00
    assert "opening_hours" in {e.field for e in error.value.errors}


def test_moving_one_occurrence_versus_the_series_differ():
    series = s.generate(plan(), MON_SAT)
    one = s.move_occurrence(series, "s1-dosing-4", at("2026-03-09 10:00"), MON_SAT)
    whole = s.shift_from(series, "s1-dosing-4", timedelta(hours=1), MON_SAT)
    assert one[6].start == whole[6].start == at("2026-03-09 10:00")
    assert one[7].start == series[7].start
    assert whole[7].start == series[7].start + timedelta(hours=1)


def test_unknown_occurrence_is_refused():
    with pytest.raises(InvalidInput) as error:
        s.move_occurrence(s.generate(plan(), MON_SAT), "s2-dosing-1", at("2026-03-02 10:00"),
                          MON_SAT)  # fmt: skip
    assert error.value.field == "occurrence"


def booking(start, minutes=60, patient="p1", room=None, staff=(), series_id="x", index=1):
    begin = at(start)
    end = begin + timedelta(minutes=minutes)
    return s.Occurrence(Kind.INTEGRATION, begin, end, series_id, index, patient, room, staff)


@pytest.mark.parametrize(
    ("existing", "proposed", "found"),
    [
        (booking("2026-03-02 09:00"), booking("2026-03-02 09:30", series_id="y"),
         [("patient", "p1")]),
        (booking("2026-03-02 09:00"), booking("2026-03-02 10:00", series_id="y"), []),  # touching
        (booking("2026-03-02 09:00", patient="p2", room="T1"),
         booking("2026-03-02 09:30", room="T1", series_id="y"), [("room", "T1")]),
        (booking("2026-03-02 09:00", patient="p2", staff=("t1", "n1")),
         booking("2026-03-02 09:30", staff=("n1",), series_id="y"), [("staff", "n1")]),
        (booking("2026-03-02 09:00", patient="p2", room="T1", staff=("t1",)),
         booking("2026-03-02 09:30", room="T2", staff=("t2",), series_id="y"), []),
        (booking("2026-03-02 09:00"), booking("2026-03-02 09:30"), []),  # the same occurrence
        (booking("2026-03-02 09:00", room="T1", staff=("t1",)),
         booking("2026-03-02 09:00", room="T1", staff=("t1",), series_id="y"),
         [("patient", "p1"), ("room", "T1"), ("staff", "t1")]),
    ],
)  # fmt: skip
def test_conflicts(existing, proposed, found):
    assert [(c.resource, c.key) for c in s.conflicts([existing], [proposed])] == found


def test_conflicts_are_refused_without_naming_the_patient():
    existing = booking("2026-03-02 09:00", room="T1")
    with pytest.raises(InvalidInputs) as error:
        s.refuse_conflicts([existing], [booking("2026-03-02 09:30", room="T1", series_id="y")])
    assert [e.field for e in error.value.errors] == ["patient", "room"]
    assert "p1" not in str(error.value)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 8),
    per_week=st.sampled_from([1, 2, 3]),
    first=st.integers(0, 4),
    dosing_hour=st.integers(8, 15),
    integration_hour=st.integers(8, 16),
    start_offset=st.integers(0, 13),
)
def test_generated_series_keep_every_rule(
    count, per_week, first, dosing_hour, integration_hour, start_offset
):
    weekdays = tuple(sorted({(first + 2 * n) % 6 for n in range(per_week)}))
    candidate = plan(
        program="standard" if per_week <= 2 else "intensive_retreat",
        sessions_per_week=Decimal(per_week),
        weeks=None if per_week <= 2 else 2,
        count=count,
        weekdays=weekdays,
        dosing_time=time(dosing_hour),
        integration_time=time(integration_hour),
        start=MONDAY + timedelta(days=start_offset),
    )
    try:
        series = s.generate(candidate, MON_SAT)
    except (InvalidInput, InvalidInputs):
        return  # refused plans are covered by the tables above
    assert s.series_problems(series, MON_SAT, RULES) == []
    assert [o.kind for o in series] == [Kind.DOSING, Kind.INTEGRATION] * count
    assert s.conflicts(series, series) == ()  # an occurrence never clashes with itself


@settings(max_examples=100, deadline=None)
@given(a=st.integers(0, 600), b=st.integers(0, 600), length=st.integers(1, 180))
def test_conflicts_are_symmetric(a, b, length):
    first = booking("2026-03-02 08:00", minutes=length, room="T1")
    second = booking("2026-03-02 08:00", minutes=length, room="T1", series_id="y")
    first = replace(first, start=first.start + timedelta(minutes=a),
                    end=first.end + timedelta(minutes=a))  # fmt: skip
    second = replace(second, start=second.start + timedelta(minutes=b),
                     end=second.end + timedelta(minutes=b))  # fmt: skip
    one_way = {c.resource for c in s.conflicts([first], [second])}
    other_way = {c.resource for c in s.conflicts([second], [first])}
    assert one_way == other_way == ({"patient", "room"} if abs(a - b) < length else set())
