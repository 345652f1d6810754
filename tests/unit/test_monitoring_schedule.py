"""The monitoring schedule: vitals intervals during and after the dose, CADSS times and their
states, and a clinic's changes, valid and not."""

from datetime import UTC, datetime, timedelta

import pytest

from kapstone.errors import InvalidInput
from kapstone.monitoring import schedule
from kapstone.monitoring.schedule import CadssState, Rating

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SHIPPED = schedule.schedule()


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def test_shipped_values_and_their_sources():
    assert SHIPPED.vitals_during_dose_minutes == 10
    assert SHIPPED.vitals_after_dose_minutes == 15
    assert SHIPPED.cadss_minutes == (40, 120)
    assert SHIPPED.cadss_window_minutes == 15
    assert "clinical-facts.md 2.4" in SHIPPED.vitals_source
    assert "no source in clinical-facts.md" in SHIPPED.cadss_source
    assert "clinic to set" in SHIPPED.cadss_source


@pytest.mark.parametrize(
    ("now", "stopped", "interval"),
    [
        (at(10), at(40), 10),  # infusion running
        (at(39), at(40), 10),
        (at(40), at(40), 15),  # stopped at this minute
        (at(90), at(40), 15),
        (at(5), None, 15),  # no stop time known
        (at(1), at(0), 15),  # a push: over at once
    ],
)
def test_vitals_interval_during_and_after_the_dose(now, stopped, interval):
    assert schedule.vitals_interval(SHIPPED, now=now, dose_stopped_at=stopped) == interval


def test_vitals_interval_refuses_a_naive_time():
    with pytest.raises(InvalidInput, match="now: must carry a time zone"):
        schedule.vitals_interval(SHIPPED, now=datetime(2026, 1, 1), dose_stopped_at=None)


def states(now_minutes, rated=()):
    times = schedule.cadss_times(
        SHIPPED,
        dose_started_at=START,
        now=at(now_minutes),
        ratings=[Rating(at(m), total) for m, total in rated],
    )
    return [(t.minutes, t.state.value) for t in times]


U, D, O, C = (s.value for s in CadssState)


@pytest.mark.parametrize(
    ("now", "rated", "expected"),
    [
        (0, [], [(40, U), (120, U)]),
        (39, [], [(40, U), (120, U)]),
        (40, [], [(40, D), (120, U)]),
        (54, [], [(40, D), (120, U)]),
        (55, [], [(40, O), (120, U)]),  # overdue at exactly the window
        (120, [], [(40, O), (120, D)]),
        (200, [], [(40, O), (120, O)]),
        (41, [(38, 12)], [(40, C), (120, U)]),  # a few minutes early counts
        (30, [(25, 12)], [(40, C), (120, U)]),  # as early as the window allows
        (30, [(24, 12)], [(40, U), (120, U)]),  # earlier than that does not
        (90, [(80, 12)], [(40, C), (120, U)]),  # late still counts for the time it was late for
        (110, [(105, 12)], [(40, O), (120, C)]),  # within the next time's window: that one's
        (130, [(42, 20), (121, 8)], [(40, C), (120, C)]),
        (130, [(-5, 20)], [(40, O), (120, D)]),  # before the dose counts for nothing
    ],
)
def test_cadss_states(now, rated, expected):
    assert states(now, rated) == expected


def test_a_done_time_keeps_its_first_rating():
    times = schedule.cadss_times(
        SHIPPED,
        dose_started_at=START,
        now=at(60),
        ratings=[Rating(at(50), 9), Rating(at(41), None)],
    )
    assert times[0].rating == Rating(at(41), None)
    assert times[0].at == at(40)
    assert not times[0].wanted and not times[1].wanted


def test_due_and_overdue_are_wanted():
    times = schedule.cadss_times(SHIPPED, dose_started_at=START, now=at(130), ratings=[])
    assert [t.wanted for t in times] == [True, True]


def test_cadss_times_refuse_naive_ratings():
    with pytest.raises(InvalidInput, match="answered_at"):
        schedule.cadss_times(
            SHIPPED, dose_started_at=START, now=at(50), ratings=[Rating(datetime(2026, 1, 1), 3)]
        )


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"vitals_after_dose_minutes": 20}, "vitals_after_dose_minutes", 20),
        ({"vitals_during_dose_minutes": 5}, "vitals_during_dose_minutes", 5),
        ({"cadss_minutes": [30, 60, 90]}, "cadss_minutes", (30, 60, 90)),
        ({"cadss_minutes": []}, "cadss_minutes", ()),
        ({"cadss_window_minutes": 5}, "cadss_window_minutes", 5),
    ],
)
def test_a_clinic_changes_the_schedule(changes, field, value):
    plan = schedule.schedule({"schedule": changes})
    assert getattr(plan, field) == value
    source = plan.vitals_source if field.startswith("vitals_") else plan.cadss_source
    assert source == "clinic setting"


def test_thresholds_beside_the_schedule_are_left_to_vitals():
    plan = schedule.schedule({"thresholds": {"heart_rate": {"above": "120"}}})
    assert plan == SHIPPED


@pytest.mark.parametrize(
    ("monitoring", "field", "rule"),
    [
        (
            {"schedule": {"vitals_after_dose_minutes": 0}},
            "schedule.vitals_after_dose_minutes",
            "above 0",
        ),
        (
            {"schedule": {"vitals_after_dose_minutes": -5}},
            "schedule.vitals_after_dose_minutes",
            "above 0",
        ),
        (
            {"schedule": {"vitals_after_dose_minutes": 7.5}},
            "schedule.vitals_after_dose_minutes",
            "whole number",
        ),
        (
            {"schedule": {"vitals_after_dose_minutes": "15"}},
            "schedule.vitals_after_dose_minutes",
            "whole number",
        ),
        (
            {"schedule": {"vitals_during_dose_minutes": True}},
            "schedule.vitals_during_dose_minutes",
            "whole number",
        ),
        ({"schedule": {"cadss_window_minutes": 0}}, "schedule.cadss_window_minutes", "above 0"),
        ({"schedule": {"cadss_minutes": [120, 40]}}, "schedule.cadss_minutes", "increasing"),
        ({"schedule": {"cadss_minutes": [40, 40]}}, "schedule.cadss_minutes", "increasing"),
        ({"schedule": {"cadss_minutes": [0, 40]}}, "schedule.cadss_minutes", "above 0"),
        ({"schedule": {"cadss_minutes": 40}}, "schedule.cadss_minutes", "list"),
        ({"schedule": {"vitals_minutes": 15}}, "schedule.vitals_minutes", "not a monitoring"),
        ({"schedul": {}}, "monitoring.schedul", "not a monitoring setting"),
        ({"schedule": [15]}, "monitoring.schedule", "table"),
    ],
)
def test_bad_clinic_settings_are_refused_by_name(monitoring, field, rule):
    with pytest.raises(InvalidInput) as caught:
        schedule.schedule(monitoring)
    assert caught.value.field == field
    assert rule in caught.value.message
