from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.monitoring.vitals import (
    Reading,
    Vital,
    alerts_for,
    check_reading,
    check_readings,
    readings_overdue,
    spec,
    specs,
    thresholds,
)

NOW = datetime(2026, 1, 15, 15, 30, tzinfo=UTC)


def test_every_vital_has_a_spec_and_a_threshold_entry_with_sources():
    assert set(specs()) == set(Vital)
    assert set(thresholds()) == set(Vital)
    for entry in specs().values():
        assert entry.source and entry.unit and entry.minimum < entry.maximum
    for threshold in thresholds().values():
        assert threshold.source


def test_thresholds_without_a_source_are_left_to_the_clinic():
    for vital in (Vital.HEART_RATE, Vital.RESPIRATORY_RATE, Vital.TEMPERATURE, Vital.CADSS):
        threshold = thresholds()[vital]
        assert threshold.above is None and threshold.below is None
        assert "clinic to set" in threshold.source


@pytest.mark.parametrize(
    "vital, value, expected",
    [
        ("systolic_bp", "128", Decimal(128)),
        ("diastolic_bp", 82, Decimal(82)),
        ("heart_rate", "72", Decimal(72)),
        ("spo2", "100", Decimal(100)),
        ("spo2", "97.5", Decimal("97.5")),
        ("respiratory_rate", "0", Decimal(0)),
        ("temperature", "36.8", Decimal("36.8")),
        ("moaas", "0", Decimal(0)),
        ("moaas", 5, Decimal(5)),
        ("cadss", "92", Decimal(92)),
        (Vital.HEART_RATE, Decimal(300), Decimal(300)),
    ],
)
def test_plausible_readings_are_kept(vital, value, expected):
    reading = check_reading(vital, value, taken_at=NOW)
    assert reading.value == expected
    assert reading.unit == spec(vital).unit
    assert reading.loinc == spec(vital).loinc
    assert reading.taken_at == NOW


@pytest.mark.parametrize(
    "vital, value, field, rule",
    [
        ("heart_rate", "400", "heart_rate", "between 20 and 300"),
        ("spo2", "120", "spo2", "between 20 and 100"),
        ("systolic_bp", "310", "systolic_bp", "between 40 and 300"),
        ("diastolic_bp", "10", "diastolic_bp", "between 20 and 200"),
        ("respiratory_rate", "-1", "respiratory_rate", "between 0 and 80"),
        ("moaas", "6", "moaas", "between 0 and 5"),
        ("moaas", "2.5", "moaas", "whole number"),
        ("cadss", "93", "cadss", "between 0 and 92"),
        ("heart_rate", "fast", "heart_rate", "must be a number"),
        ("heart_rate", "NaN", "heart_rate", "must be a number"),
        ("heart_rate", "Infinity", "heart_rate", "must be a number"),
        ("heart_rate", 72.0, "heart_rate", "must be a number"),
        ("heart_rate", True, "heart_rate", "must be a number"),
        ("pulse", "72", "vital", "not a vital sign"),
    ],
)
def test_impossible_readings_are_refused_naming_vital_and_rule(vital, value, field, rule):
    with pytest.raises(InvalidInput) as refused:
        check_reading(vital, value)
    assert refused.value.field == field
    assert rule in refused.value.message
    assert str(value) not in str(refused.value)


def test_the_unit_must_be_the_vitals_own():
    assert check_reading("spo2", "97", unit="%").unit == "%"
    with pytest.raises(InvalidInput, match="spo2: must be given in %"):
        check_reading("spo2", "97", unit="/min")


def test_reading_time_must_carry_a_zone():
    with pytest.raises(InvalidInput, match="taken_at"):
        check_reading("spo2", "97", taken_at=datetime(2026, 1, 1, 12, 0))


def test_blood_pressure_40_over_200_is_refused():
    with pytest.raises(InvalidInputs) as refused:
        check_readings({"systolic_bp": "40", "diastolic_bp": "200"})
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("systolic_bp", "must exceed the diastolic pressure")
    ]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidInputs) as refused:
        check_readings(
            {"heart_rate": "400", "spo2": "120", "systolic_bp": "120", "diastolic_bp": "80"}
        )
    assert [e.field for e in refused.value.errors] == ["heart_rate", "spo2"]


def test_a_set_of_vitals_skips_blanks():
    readings = check_readings(
        {"systolic_bp": "150", "diastolic_bp": "95", "heart_rate": "", "moaas": None},
        taken_at=NOW,
    )
    assert [r.vital for r in readings] == [Vital.SYSTOLIC_BP, Vital.DIASTOLIC_BP]


def reading(vital, value):
    return check_reading(vital, value, taken_at=NOW)


@pytest.mark.parametrize(
    "vital, value, expected",
    [
        ("systolic_bp", "140", []),
        ("systolic_bp", "141", [("systolic_bp", "above", Decimal(140))]),
        ("diastolic_bp", "90", []),
        ("diastolic_bp", "91", [("diastolic_bp", "above", Decimal(90))]),
        ("spo2", "92", []),
        ("spo2", "91", [("spo2", "below", Decimal(92))]),
        ("moaas", "1", []),
        ("moaas", "0", [("moaas", "below", Decimal(1))]),
        ("heart_rate", "180", []),
        ("cadss", "60", []),
    ],
)
def test_shipped_alert_thresholds(vital, value, expected):
    alerts = alerts_for([reading(vital, value)])
    assert [(a.reading.vital.value, a.rule, a.limit) for a in alerts] == expected


def test_a_clinic_sets_and_clears_thresholds():
    limits = thresholds({"heart_rate": {"above": "110", "below": "50"}, "spo2": {"below": ""}})
    alerts = alerts_for(
        [reading("heart_rate", "115"), reading("heart_rate", "45"), reading("spo2", "85")],
        limits,
    )
    assert [(a.reading.vital, a.rule) for a in alerts] == [
        (Vital.HEART_RATE, "above"),
        (Vital.HEART_RATE, "below"),
    ]
    assert limits[Vital.HEART_RATE].source == "clinic setting"


def test_an_alert_names_the_rule_not_the_value():
    (alert,) = alerts_for([reading("systolic_bp", "187")])
    assert str(alert) == "systolic_bp: above 140 mm[Hg]"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"pulse": {"above": "100"}}, "thresholds"),
        ({"heart_rate": {"max": "100"}}, "thresholds.heart_rate"),
        ({"heart_rate": {"above": "lots"}}, "thresholds.heart_rate.above"),
    ],
)
def test_bad_threshold_settings_are_refused(overrides, field):
    with pytest.raises(InvalidInput) as refused:
        thresholds(overrides)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "minutes_ago, expected",
    [
        (None, [Vital.SYSTOLIC_BP]),
        (5, []),
        (14, []),
        (15, [Vital.SYSTOLIC_BP]),
        (40, [Vital.SYSTOLIC_BP]),
    ],
)
def test_readings_overdue(minutes_ago, expected):
    last = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    assert readings_overdue({Vital.SYSTOLIC_BP: last}, 15, NOW) == expected


def test_readings_overdue_lists_each_vital_in_order():
    last_times = {
        "systolic_bp": NOW - timedelta(minutes=20),
        "spo2": NOW - timedelta(minutes=2),
        "moaas": None,
    }
    assert readings_overdue(last_times, 10, NOW) == [Vital.SYSTOLIC_BP, Vital.MOAAS]


@pytest.mark.parametrize(
    "interval, now, field",
    [
        (0, NOW, "interval_minutes"),
        (-5, NOW, "interval_minutes"),
        (7.5, NOW, "interval_minutes"),
        (10, datetime(2026, 1, 1, 12, 0), "now"),
    ],
)
def test_readings_overdue_refuses_bad_arguments(interval, now, field):
    with pytest.raises(InvalidInput) as refused:
        readings_overdue({}, interval, now)
    assert refused.value.field == field


@given(
    vital=st.sampled_from(list(Vital)),
    value=st.decimals(min_value=-1000, max_value=1000, places=1),
)
def test_a_reading_is_kept_exactly_when_it_is_in_range(vital, value):
    entry = spec(vital)
    in_range = entry.minimum <= value <= entry.maximum and (
        not entry.integer or value == value.to_integral_value()
    )
    try:
        kept = check_reading(vital, str(value))
    except InvalidInput as error:
        assert not in_range
        assert error.field == vital.value
    else:
        assert in_range
        assert isinstance(kept, Reading) and kept.value == value
