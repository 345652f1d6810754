"""The pre-dose check and the discharge gate: inputs and what they decide, with sources."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.dosing.gates import (
    ALDRETE_ITEMS,
    DischargeFacts,
    Outcome,
    PreDoseFacts,
    PreDoseRules,
    PregnancyTest,
    SuicideRisk,
    aldrete_score,
    can_discharge,
    can_dose,
    check_can_discharge,
    check_can_dose,
    circulation_item,
    evaluate_pre_dose,
    pre_dose_rules,
)
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.monitoring.vitals import Vital, check_readings, thresholds

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def vitals(**overrides):
    values = {"systolic_bp": "128", "diastolic_bp": "82", "heart_rate": "74", "spo2": "98"}
    values.update(overrides)
    return tuple(check_readings({k: v for k, v in values.items() if v is not None}))


GOOD = PreDoseFacts(
    escort_confirmed=True,
    consent_current=True,
    plan_signed=True,
    gad7_total=9,
    phq9_item9=0,
    readings=vitals(),
)


def items(result, outcome=None):
    return [f.item for f in result.reasons(outcome)]


def test_a_good_check_is_clear():
    result = evaluate_pre_dose(GOOD)
    assert result.outcome is Outcome.CLEAR and result.findings == ()
    assert can_dose(result)


@pytest.mark.parametrize(
    ("change", "rules", "outcome", "item"),
    [
        ({"consent_current": False}, {}, Outcome.HOLD, "consent"),
        ({"plan_signed": False}, {}, Outcome.HOLD, "plan"),
        ({"escort_confirmed": False}, {}, Outcome.HOLD, "escort"),
        ({"fasting_hours": D(2)}, {"fasting_hours": D(4)}, Outcome.HOLD, "fasting"),
        ({"fasting_hours": None}, {"fasting_hours": D(4)}, Outcome.HOLD, "fasting"),
        ({"fasting_hours": D(6)}, {"fasting_hours": D(4)}, Outcome.CLEAR, None),
        ({"plan_weight_kg": D(70), "weight_kg": None}, {}, Outcome.HOLD, "weight"),
        ({"plan_weight_kg": D(70), "weight_kg": D(70)}, {}, Outcome.CLEAR, None),
        # No tolerance set: any change goes to the prescriber.
        ({"plan_weight_kg": D(70), "weight_kg": D("70.5")}, {}, Outcome.NEEDS_REVIEW, "weight"),
        (
            {"plan_weight_kg": D(70), "weight_kg": D(73)},
            {"weight_tolerance_percent": D(5)},
            Outcome.CLEAR,
            None,
        ),
        (
            {"plan_weight_kg": D(70), "weight_kg": D(74)},
            {"weight_tolerance_percent": D(5)},
            Outcome.NEEDS_REVIEW,
            "weight",
        ),
        ({}, {"pregnancy_test_required": True}, Outcome.HOLD, "pregnancy_test"),
        (
            {"pregnancy_test": PregnancyTest.POSITIVE},
            {"pregnancy_test_required": True},
            Outcome.HOLD,
            "pregnancy_test",
        ),
        (
            {"pregnancy_test": PregnancyTest.NEGATIVE},
            {"pregnancy_test_required": True},
            Outcome.CLEAR,
            None,
        ),
        # A positive test recorded where the protocol asks for none still holds the dose.
        ({"pregnancy_test": PregnancyTest.POSITIVE}, {}, Outcome.HOLD, "pregnancy_test"),
        ({"pregnancy_test": PregnancyTest.NOT_DONE}, {}, Outcome.CLEAR, None),
        ({"gad7_total": None, "phq9_item9": None}, {}, Outcome.HOLD, "symptom_check"),
        ({"phq9_item9": 1}, {}, Outcome.NEEDS_REVIEW, "phq9_item9"),
        ({"suicide_risk": SuicideRisk.LOW_MODERATE}, {}, Outcome.NEEDS_REVIEW, "cssrs"),
        ({"suicide_risk": SuicideRisk.SEVERE}, {}, Outcome.HOLD, "cssrs"),
        ({"suicide_risk": SuicideRisk.NONE}, {}, Outcome.CLEAR, None),
        ({"readings": vitals(spo2=None)}, {}, Outcome.HOLD, "baseline_vitals"),
        # clinical-facts.md §2.1: above 140/90 needs review before dosing; 140/90 itself does not.
        ({"readings": vitals(systolic_bp="140", diastolic_bp="90")}, {}, Outcome.CLEAR, None),
        ({"readings": vitals(systolic_bp="141")}, {}, Outcome.NEEDS_REVIEW, "systolic_bp"),
        ({"readings": vitals(diastolic_bp="91")}, {}, Outcome.NEEDS_REVIEW, "diastolic_bp"),
        ({"readings": vitals(spo2="91")}, {}, Outcome.NEEDS_REVIEW, "spo2"),
        (
            {"readings": vitals(systolic_bp="170")},
            {"hold_systolic_above": D(160)},
            Outcome.HOLD,
            "systolic_bp",
        ),
    ],
)
def test_pre_dose_gate(change, rules, outcome, item):
    result = evaluate_pre_dose(replace(GOOD, **change), PreDoseRules(**rules))
    assert result.outcome is outcome
    if item is not None:
        assert item in items(result, outcome)
    assert all(f.source for f in result.findings)


def test_the_bp_rule_cites_the_clinical_reference():
    result = evaluate_pre_dose(replace(GOOD, readings=vitals(systolic_bp="150")))
    (finding,) = result.findings
    assert "clinical-facts.md section 2.1" in finding.source


def test_review_needs_a_prescriber_and_a_reason():
    result = evaluate_pre_dose(replace(GOOD, readings=vitals(systolic_bp="150")))
    with pytest.raises(InvalidInputs) as caught:
        check_can_dose(result)
    assert [e.field for e in caught.value.errors] == ["systolic_bp"]
    with pytest.raises(InvalidInputs) as caught:
        check_can_dose(result, reviewed_by_prescriber=True, review_reason=" ")
    assert [e.field for e in caught.value.errors] == ["review_reason"]
    assert can_dose(result, reviewed_by_prescriber=True, review_reason="BP rechecked, stable")


def test_a_hold_is_never_cleared_by_review():
    result = evaluate_pre_dose(replace(GOOD, escort_confirmed=False, phq9_item9=2))
    assert result.outcome is Outcome.HOLD
    assert not can_dose(result, reviewed_by_prescriber=True, review_reason="Seen")


# Modified Aldrete (clinical-facts.md §2.5)

FULL = dict.fromkeys(ALDRETE_ITEMS, 2)


@given(st.fixed_dictionaries({name: st.sampled_from([0, 1, 2]) for name in ALDRETE_ITEMS}))
def test_aldrete_is_the_sum_of_five_items_0_to_10(scores):
    total = aldrete_score(scores)
    assert total == sum(scores.values()) and 0 <= total <= 10


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"activity": 3}, ["aldrete_activity"]),
        ({"respiration": None}, ["aldrete_respiration"]),
        (
            {"consciousness": -1, "oxygenation": "x"},
            ["aldrete_consciousness", "aldrete_oxygenation"],
        ),
        ({"colour": 2}, ["aldrete"]),
    ],
)
def test_aldrete_refuses_bad_items(change, fields):
    with pytest.raises(InvalidInputs) as caught:
        aldrete_score({**FULL, **change})
    assert [e.field for e in caught.value.errors] == fields


@pytest.mark.parametrize(
    ("before", "now", "item"),
    [(120, 120, 2), (120, 140, 2), (120, 100, 2), (120, 141, 1), (120, 169, 1), (120, 170, 0)],
)
def test_circulation_item(before, now, item):
    assert circulation_item(D(before), D(now)) == item


# Discharge

READY = DischargeFacts(
    dose_started_at=NOW - timedelta(minutes=125),
    now=NOW,
    min_monitoring_minutes=120,
    monitoring_source="clinical-facts.md §2.1",
    aldrete=FULL,
    latest_readings=vitals(),
    escort_present=True,
    instructions_acknowledged=True,
)


def test_a_ready_patient_may_leave():
    assert check_can_discharge(READY) == []
    assert can_discharge(READY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dose_started_at": NOW - timedelta(minutes=119)}, "monitoring"),
        ({"dose_started_at": None}, "monitoring"),
        ({"aldrete": {**FULL, "activity": 0, "consciousness": 1}}, "aldrete"),
        ({"aldrete": {**FULL, "activity": None}}, "aldrete_activity"),
        ({"latest_readings": vitals(systolic_bp="150")}, "systolic_bp"),
        ({"latest_readings": vitals(spo2="90")}, "spo2"),
        ({"latest_readings": vitals(heart_rate=None)}, "vitals"),
        ({"escort_present": False}, "escort"),
        ({"instructions_acknowledged": False}, "instructions"),
    ],
)
def test_discharge_gate(change, field):
    facts = replace(READY, **change)
    with pytest.raises(InvalidInputs) as caught:
        check_can_discharge(facts)
    assert [e.field for e in caught.value.errors] == [field]


def test_aldrete_of_9_is_enough():
    assert can_discharge(replace(READY, aldrete={**FULL, "activity": 1}))


def test_early_discharge_names_the_minimum():
    facts = replace(READY, dose_started_at=NOW - timedelta(minutes=30))
    with pytest.raises(InvalidInputs, match="minimum of 120 minutes"):
        check_can_discharge(facts)


def test_a_prescriber_overrides_with_a_reason():
    facts = replace(READY, dose_started_at=NOW - timedelta(minutes=30), escort_present=False)
    with pytest.raises(InvalidInputs) as caught:
        check_can_discharge(facts, override_by_prescriber=True, override_reason="")
    assert [e.field for e in caught.value.errors] == ["override_reason"]
    overridden = check_can_discharge(
        facts, override_by_prescriber=True, override_reason="Transferred to hospital care"
    )
    assert [f.item for f in overridden] == ["monitoring", "escort"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, PreDoseRules()),
        (
            {"fasting_hours": 4},
            PreDoseRules(fasting_hours=D(4), fasting_source="clinic setting"),
        ),
        ({"fasting_hours": "0"}, PreDoseRules(fasting_hours=D(0), fasting_source="clinic setting")),
        (
            {"pregnancy_test_required": True},
            PreDoseRules(pregnancy_test_required=True, pregnancy_source="clinic setting"),
        ),
        (
            {"weight_tolerance_percent": 10},
            PreDoseRules(weight_tolerance_percent=D(10), weight_source="clinic setting"),
        ),
        (
            {"hold_systolic_above": 180, "hold_diastolic_above": "110"},
            PreDoseRules(hold_systolic_above=D(180), hold_diastolic_above=D(110)),
        ),
    ],
)
def test_a_clinics_pre_dose_settings(settings, expected):
    assert pre_dose_rules(settings) == expected


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"fasting": 4}, "monitoring.pre_dose.fasting"),
        ({"fasting_hours": -1}, "monitoring.pre_dose.fasting_hours"),
        ({"fasting_hours": 25}, "monitoring.pre_dose.fasting_hours"),
        ({"fasting_hours": "four"}, "monitoring.pre_dose.fasting_hours"),
        ({"fasting_hours": True}, "monitoring.pre_dose.fasting_hours"),
        ({"fasting_hours": "NaN"}, "monitoring.pre_dose.fasting_hours"),
        ({"pregnancy_test_required": "yes"}, "monitoring.pre_dose.pregnancy_test_required"),
        ({"weight_tolerance_percent": 0}, "monitoring.pre_dose.weight_tolerance_percent"),
        ({"weight_tolerance_percent": 51}, "monitoring.pre_dose.weight_tolerance_percent"),
        ({"hold_systolic_above": 90}, "monitoring.pre_dose.hold_systolic_above"),
        ({"hold_diastolic_above": [100]}, "monitoring.pre_dose.hold_diastolic_above"),
    ],
)
def test_a_bad_pre_dose_setting_is_refused_naming_it(settings, field):
    with pytest.raises(InvalidInput) as refused:
        pre_dose_rules(settings)
    assert refused.value.field == field


def test_the_clinics_thresholds_go_into_the_pre_dose_rules():
    limits = thresholds({"systolic_bp": {"above": "150"}})
    rules = pre_dose_rules({}, limits=limits)
    assert rules.thresholds[Vital.SYSTOLIC_BP].above == D(150)
    result = evaluate_pre_dose(replace(GOOD, readings=vitals(systolic_bp="145")), rules)
    assert result.outcome is Outcome.CLEAR
