"""A clinic's integration window and dosing spacing over the shipped defaults, and the rules
for a member of staff's weekly hours."""

from datetime import time
from decimal import Decimal

import pytest

from kapstone.errors import InvalidInputs
from kapstone.scheduling import series as s

SHIPPED = s.default_rules()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (None, (24, 72, True, 24)),
        ({}, (24, 72, True, 24)),
        ({"integration_window": {"min_hours": 48}}, (48, 72, True, 24)),
        ({"integration_window": {"max_hours": 96, "min_hours": 12}}, (12, 96, True, 24)),
        ({"integration_window": {"before_next_dosing": False}}, (24, 72, False, 24)),
        ({"dosing_spacing": {"min_hours": 72}}, (24, 72, True, 72)),
        ({"dosing_spacing": {"min_hours": 36.5}}, (24, 72, True, Decimal("36.5"))),
        ({"dosing_spacing": {"min_hours": 0}}, (24, 72, True, 0)),
        ({"integration_window": {"min_hours": 72, "max_hours": 72}}, (72, 72, True, 24)),
    ],
)
def test_clinic_settings_change_only_what_they_name(settings, expected):
    # Act
    rules = s.clinic_rules(settings)

    # Assert
    assert (
        rules.integration_min_hours,
        rules.integration_max_hours,
        rules.integration_before_next_dosing,
        rules.min_spacing_hours,
    ) == tuple(Decimal(str(value)) if not isinstance(value, bool) else value for value in expected)


def test_without_clinic_settings_the_shipped_rules_and_their_source_stand():
    assert s.clinic_rules(None) == SHIPPED


def test_a_changed_section_says_it_is_the_clinics_own():
    # Act
    window = s.clinic_rules({"integration_window": {"min_hours": 48}})
    sourced = s.clinic_rules({"dosing_spacing": {"min_hours": 48, "source": "clinic policy 4"}})

    # Assert
    assert "window: the clinic's own setting" in window.source
    assert "spacing: no source in clinical-facts.md" in window.source
    assert "spacing: clinic policy 4" in sourced.source


@pytest.mark.parametrize(
    ("settings", "fields"),
    [
        ({"integration_windows": {"min_hours": 1}}, ["scheduling.integration_windows"]),
        ({"integration_window": {"min_hour": 1}}, ["scheduling.integration_window.min_hour"]),
        ({"dosing_spacing": {"max_hours": 1}}, ["scheduling.dosing_spacing.max_hours"]),
        ({"dosing_spacing": 24}, ["scheduling.dosing_spacing"]),
        ({"dosing_spacing": {"min_hours": -1}}, ["scheduling.dosing_spacing.min_hours"]),
        ({"dosing_spacing": {"min_hours": "24"}}, ["scheduling.dosing_spacing.min_hours"]),
        ({"dosing_spacing": {"min_hours": True}}, ["scheduling.dosing_spacing.min_hours"]),
        ({"dosing_spacing": {"min_hours": float("nan")}}, ["scheduling.dosing_spacing.min_hours"]),
        ({"integration_window": {"max_hours": 1440}}, ["scheduling.integration_window.max_hours"]),
        (
            {"integration_window": {"before_next_dosing": "yes"}},
            ["scheduling.integration_window.before_next_dosing"],
        ),
        ({"integration_window": {"source": ""}}, ["scheduling.integration_window.source"]),
        ({"integration_window": {"min_hours": 80}}, ["scheduling.integration_window.min_hours"]),
        (
            {"integration_window": {"min_hours": -1, "max_hours": "x"}, "spacing": {}},
            [
                "scheduling.integration_window.min_hours",
                "scheduling.integration_window.max_hours",
                "scheduling.spacing",
            ],
        ),
    ],
)
def test_bad_clinic_settings_are_refused_naming_each_key(settings, fields):
    # Act
    with pytest.raises(InvalidInputs) as raised:
        s.clinic_rules(settings)

    # Assert
    assert [e.field for e in raised.value.errors] == fields


def test_a_refusal_never_quotes_the_value():
    with pytest.raises(InvalidInputs) as raised:
        s.clinic_rules({"dosing_spacing": {"min_hours": 9999}})

    assert "9999" not in str(raised.value.errors[0].message)


NINE_TO_FIVE = [(time(9), time(17))]


@pytest.mark.parametrize(
    ("existing", "weekday", "start", "end", "fields"),
    [
        ([], 0, time(9), time(17), []),
        ([], 6, time(0), time(23, 59), []),
        (NINE_TO_FIVE, 2, time(17), time(20), []),
        (NINE_TO_FIVE, 2, time(7), time(9), []),
        ([(time(8), time(12)), (time(13), time(17))], 2, time(12), time(13), []),
        (NINE_TO_FIVE, 2, time(16), time(18), ["start"]),
        (NINE_TO_FIVE, 2, time(8), time(10), ["start"]),
        (NINE_TO_FIVE, 2, time(10), time(11), ["start"]),
        (NINE_TO_FIVE, 2, time(8), time(18), ["start"]),
        ([], 1, time(17), time(9), ["end"]),
        ([], 1, time(9), time(9), ["end"]),
        ([], 7, time(9), time(17), ["weekday"]),
        ([], -1, time(9), time(17), ["weekday"]),
        ([], True, time(9), time(17), ["weekday"]),
        ([], None, None, None, ["weekday", "start", "end"]),
        ([], 3, time(9), None, ["end"]),
    ],
)
def test_staff_hours_rules(existing, weekday, start, end, fields):
    # Act
    problems = s.staff_hours_problems(existing, weekday, start, end)

    # Assert
    assert [p.field for p in problems] == fields
