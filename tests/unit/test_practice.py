"""Home practice rules: the library, frequencies, expected days, adherence and log checks."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import practice
from kapstone.integration.practice import Window, adherence, expected_count


@dataclass
class Assigned:
    frequency: str
    starts_on: date
    ends_on: date | None = None


MON = date(2026, 11, 2)


def test_library_names_every_practice_with_instructions_and_a_source():
    # Act
    library = practice.library()

    # Assert
    assert {
        "breathing",
        "muscle_relaxation",
        "mindfulness",
        "exercise",
        "sleep_routine",
        "caffeine_alcohol",
        "thought_record",
        "behavioral_experiment",
        "social_contact",
    } <= set(library)
    for entry in library.values():
        assert entry.instructions and entry.source and entry.name
        assert entry.frequency in practice.FREQUENCIES


def test_unknown_practice_names_the_field():
    with pytest.raises(InvalidInput) as raised:
        practice.get("juggling")
    assert raised.value.field == "practice"


@pytest.mark.parametrize(
    ("frequency", "per_week"),
    [("daily", 7), ("weekly", 1), ("2_a_week", 2), ("3_a_week", 3), ("6_a_week", 6)],
)
def test_per_week(frequency, per_week):
    assert practice.per_week(frequency) == per_week


@pytest.mark.parametrize("frequency", ["", "hourly", "1_a_week", "7_a_week", "x_a_week", "3"])
def test_unknown_frequency_is_refused(frequency):
    with pytest.raises(InvalidInput) as raised:
        practice.per_week(frequency)
    assert raised.value.field == "frequency"


@pytest.mark.parametrize(
    ("frequency", "days", "expected"),
    [
        ("daily", 1, 1),
        ("daily", 7, 7),
        ("daily", 28, 28),
        ("3_a_week", 7, 3),
        ("3_a_week", 28, 12),
        ("3_a_week", 1, 0),
        ("3_a_week", 2, 1),
        ("weekly", 7, 1),
        ("weekly", 3, 0),
        ("weekly", 4, 1),
        ("weekly", 28, 4),
        ("2_a_week", 14, 4),
    ],
)
def test_expected_count(frequency, days, expected):
    assert expected_count(frequency, MON, MON + timedelta(days=days - 1)) == expected


def test_expected_count_of_an_empty_span_is_zero():
    assert expected_count("daily", MON, MON - timedelta(days=1)) == 0


@pytest.mark.parametrize(
    ("frequency", "starts", "ends", "done_offsets", "done", "expected", "percent"),
    [
        # A full week of daily practice, every day logged.
        ("daily", -30, None, range(7), 7, 7, 100),
        # Two logs on one day count as one day.
        ("daily", -30, None, [0, 0, 1], 2, 7, 29),
        # Three a week, logged four times: capped at 100.
        ("3_a_week", -30, None, [0, 1, 2, 3], 4, 3, 100),
        # Assigned three days before the window's end: only those days expected.
        ("daily", 4, None, [4, 5], 2, 3, 67),
        # Ended mid-window: later logs do not count.
        ("daily", -30, 2, [0, 1, 2, 3, 4], 3, 3, 100),
        # Logs before the window do not count.
        ("daily", -30, None, [-1, -5], 0, 7, 0),
        # Weekly, assigned the day before the end: nothing expected yet.
        ("weekly", 5, None, [], 0, 0, None),
    ],
)
def test_adherence_over_a_week(frequency, starts, ends, done_offsets, done, expected, percent):
    # Arrange
    window = Window(MON, MON + timedelta(days=6))
    assigned = Assigned(
        frequency,
        MON + timedelta(days=starts),
        None if ends is None else MON + timedelta(days=ends),
    )
    logs = [MON + timedelta(days=d) for d in done_offsets]

    # Act
    result = adherence(logs, assigned, window)

    # Assert
    assert (result.done, result.expected, result.percent) == (done, expected, percent)


def test_window_last_days_ends_today():
    assert Window.last(7, MON) == Window(MON - timedelta(days=6), MON)


@st.composite
def cases(draw):
    frequency = draw(st.sampled_from(list(practice.FREQUENCIES)))
    starts = MON + timedelta(days=draw(st.integers(-40, 40)))
    ends = draw(st.none() | st.integers(0, 60).map(lambda d: starts + timedelta(days=d)))
    days = draw(st.integers(1, 40))
    window = Window.last(days, MON + timedelta(days=draw(st.integers(-10, 50))))
    offsets = st.integers(-60, 100).map(lambda d: MON + timedelta(days=d))
    logs = draw(st.lists(offsets, max_size=40))
    more = draw(st.lists(offsets, max_size=10))
    return Assigned(frequency, starts, ends), window, logs, more


@given(cases())
def test_adherence_is_a_percentage_and_more_practice_never_lowers_it(case):
    # Arrange
    assigned, window, logs, more = case

    # Act
    before = adherence(logs, assigned, window)
    after = adherence(logs + more, assigned, window)

    # Assert
    for result in (before, after):
        assert result.done >= 0 and result.expected >= 0
        if result.expected == 0:
            assert result.percent is None
        else:
            assert 0 <= result.percent <= 100
    assert after.done >= before.done
    assert after.expected == before.expected
    if before.percent is not None:
        assert after.percent >= before.percent


TODAY = date(2026, 11, 20)
GOOD = {
    "done_on": TODAY,
    "minutes": 10,
    "rating": 7,
    "note": "",
    "today": TODAY,
    "starts_on": TODAY - timedelta(days=10),
    "ends_on": None,
}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({}, []),
        ({"rating": None}, []),
        ({"rating": 0, "minutes": 1}, []),
        ({"rating": 10, "minutes": 240}, []),
        ({"minutes": 0}, ["minutes"]),
        ({"minutes": 241}, ["minutes"]),
        ({"minutes": None}, ["minutes"]),
        ({"minutes": "ten"}, ["minutes"]),
        ({"minutes": True}, ["minutes"]),
        ({"rating": 11}, ["rating"]),
        ({"rating": -1}, ["rating"]),
        ({"done_on": None}, ["done_on"]),
        ({"done_on": TODAY + timedelta(days=1)}, ["done_on"]),
        ({"done_on": TODAY - timedelta(days=11)}, ["done_on"]),
        ({"ends_on": TODAY - timedelta(days=1)}, ["done_on"]),
        ({"note": "x" * 501}, ["note"]),
        ({"minutes": 0, "rating": 12, "done_on": None}, ["done_on", "minutes", "rating"]),
    ],
)
def test_check_log_names_every_bad_field(change, fields):
    # Act
    try:
        practice.check_log(**{**GOOD, **change})
    except InvalidInputs as invalid:
        found = sorted(error.field for error in invalid.errors)
    else:
        found = []

    # Assert
    assert found == fields
