from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.clinical import dose, protocols
from kapstone.clinical.dose import DoseOutOfRange, DoseOverride, Signer
from kapstone.errors import InvalidInput

LIB = protocols.library("v1")
IV, IM, SC, SL, IN = (LIB.route(r) for r in ("iv", "im", "sc", "sl", "in_esketamine"))
STEP = LIB.volume_step_ml  # 0.01 mL


@pytest.mark.parametrize(
    ("rule", "weight", "concentration", "mg", "volume", "per_kg"),
    [
        # 0.5 mg/kg x 70 kg = 35 mg; at 50 mg/mL, 0.70 mL.
        (IV, "70", "50", "35.00", "0.70", "0.500"),
        (IV, "70", "10", "35.00", "3.50", "0.500"),
        # 0.5 x 70.9 = 35.45 mg = 0.709 mL: the nearest step, 0.71 mL.
        (IV, "70.9", "50", "35.50", "0.71", "0.501"),
        # 0.5 x 82.3 = 41.15 mg = 0.823 mL: the nearest step (0.82 mL) is under 0.5 mg/kg.
        (IV, "82.3", "50", "41.50", "0.83", "0.504"),
        # 0.5 x 70.33 = 35.165 mg = 0.7033 mL: the nearest step (0.70 mL, 35.0 mg) is below
        # 0.5 mg/kg, so the volume is rounded up to stay inside the range.
        (IV, "70.33", "50", "35.50", "0.71", "0.505"),
        (IM, "60", "100", "30.00", "0.30", "0.500"),
        (SC, "80", "50", "20.00", "0.40", "0.250"),
        (SC, "64.5", "10", "16.20", "1.62", "0.251"),
    ],
)
def test_starting_dose_from_weight(rule, weight, concentration, mg, volume, per_kg):
    calculated = dose.starting_dose(
        rule, weight_kg=weight, concentration_mg_per_ml=concentration, volume_step_ml=STEP
    )
    assert calculated.mg == Decimal(mg)
    assert calculated.volume_ml == Decimal(volume)
    assert calculated.mg_per_kg == Decimal(per_kg)
    assert calculated.mg == calculated.volume_ml * Decimal(concentration)
    assert dose.in_range(rule, calculated.mg, calculated.weight_kg)


def test_intravenous_dose_carries_the_infusion():
    calculated = dose.starting_dose(
        IV, weight_kg="80", concentration_mg_per_ml="10", volume_step_ml=STEP
    )
    assert calculated.infusion_minutes == 40
    assert calculated.mg_per_minute == Decimal("1.00")  # 40 mg over 40 minutes
    longer = dose.calculate(
        IV,
        weight_kg="80",
        mg_per_kg="0.5",
        concentration_mg_per_ml="10",
        volume_step_ml=STEP,
        infusion_minutes=60,
    )
    assert longer.mg_per_minute == Decimal("0.67")


def test_the_100_mg_per_ml_strength_is_diluted_for_intravenous_use():
    strong = dose.starting_dose(
        IV, weight_kg="70", concentration_mg_per_ml="100", volume_step_ml=STEP
    )
    assert any("Dilute" in note and "§1.1" in note for note in strong.notes)
    weak = dose.starting_dose(IV, weight_kg="70", concentration_mg_per_ml="10", volume_step_ml=STEP)
    assert weak.notes == ()
    assert (
        dose.starting_dose(
            IM, weight_kg="70", concentration_mg_per_ml="100", volume_step_ml=STEP
        ).notes
        == ()
    )


def test_without_a_stock_concentration_the_dose_stays_in_mg():
    calculated = dose.starting_dose(IV, weight_kg="70.33")
    assert calculated.volume_ml is None
    assert calculated.mg == Decimal("35.2")  # 35.165 to 0.1 mg
    assert any("stock concentration" in note for note in calculated.notes)


def test_a_coarser_measuring_step_is_the_clinics_to_set():
    lib = protocols.library("v1", {"measuring": {"volume_step_ml": "0.1"}})
    calculated = dose.starting_dose(
        lib.route("iv"),
        weight_kg="70.33",
        concentration_mg_per_ml="10",
        volume_step_ml=lib.volume_step_ml,
    )
    assert calculated.volume_ml == Decimal("3.6")  # 3.5165 mL: 3.5 is under 0.5 mg/kg
    assert calculated.mg == Decimal("36.0")


@pytest.mark.parametrize(
    ("rule", "mg", "devices", "minutes"),
    [(IN, "56", 2, 5), (IN, "84", 3, 10)],
)
def test_intranasal_devices_and_rests(rule, mg, devices, minutes):
    calculated = dose.calculate(rule, mg=mg)
    assert (calculated.devices, calculated.administration_minutes) == (devices, minutes)
    assert calculated.mg == Decimal(mg)
    assert dose.starting_dose(IN).mg == Decimal(56)


def test_sublingual_fixed_dose():
    assert dose.starting_dose(SL).mg == Decimal("50.0")
    assert dose.calculate(SL, mg="150").mg == Decimal("150.0")
    # The weight is recorded when given, for mg/kg on screen.
    assert dose.calculate(SL, mg="150", weight_kg="75").mg_per_kg == Decimal("2.000")


@pytest.mark.parametrize(
    ("rule", "kwargs", "field", "fragment"),
    [
        (IV, {"weight_kg": "0", "mg_per_kg": "0.5"}, "weight_kg", "between 25 and 350 kg"),
        (IV, {"weight_kg": "700", "mg_per_kg": "0.5"}, "weight_kg", "between 25 and 350 kg"),
        (IV, {"weight_kg": "-70", "mg_per_kg": "0.5"}, "weight_kg", "between"),
        (IV, {"weight_kg": "seventy", "mg_per_kg": "0.5"}, "weight_kg", "must be a number"),
        (IV, {"weight_kg": "NaN", "mg_per_kg": "0.5"}, "weight_kg", "must be a number"),
        (IV, {"mg_per_kg": "0.5"}, "weight_kg", "is required"),
        (IV, {"weight_kg": "70", "mg": "-35"}, "dose_mg", "more than 0 mg"),
        (IV, {"weight_kg": "70", "mg": "0"}, "dose_mg", "more than 0 mg"),
        (IV, {"weight_kg": "70", "mg_per_kg": "-0.5"}, "mg_per_kg", "more than 0 mg/kg"),
        (IV, {"weight_kg": "70"}, "dose", "either in mg/kg or in mg"),
        (IV, {"weight_kg": "70", "mg": "35", "mg_per_kg": "0.5"}, "dose", "either"),
        (
            IV,
            {"weight_kg": "70", "mg": "35", "concentration_mg_per_ml": "0", "volume_step_ml": STEP},
            "concentration_mg_per_ml",
            "more than 0",
        ),
        (
            IV,
            {"weight_kg": "70", "mg": "35", "concentration_mg_per_ml": "50", "volume_step_ml": "0"},
            "volume_step_ml",
            "more than 0",
        ),
        (
            IV,
            {"weight_kg": "70", "mg": "35", "infusion_minutes": 20},
            "infusion_minutes",
            "40 to 60",
        ),
        (
            IV,
            {"weight_kg": "70", "mg": "35", "infusion_minutes": 40.5},
            "infusion_minutes",
            "whole",
        ),
        (
            IM,
            {"weight_kg": "70", "mg": "35", "infusion_minutes": 40},
            "infusion_minutes",
            "not an infusion",
        ),
        (SL, {"mg_per_kg": "2"}, "mg_per_kg", "dosed in mg"),
        (IN, {"mg": "70"}, "dose_mg", "whole number of 28 mg devices"),
        (IN, {"mg": "0"}, "dose_mg", "more than 0"),
        (SL, {"mg": "0.01"}, "dose_mg", "at least 0.1 mg"),
    ],
)
def test_impossible_input_is_refused_naming_the_field(rule, kwargs, field, fragment):
    with pytest.raises(InvalidInput) as caught:
        dose.calculate(rule, **kwargs)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_an_unknown_route_is_refused():
    with pytest.raises(InvalidInput) as caught:
        LIB.route("rectal")
    assert caught.value.field == "route"


def test_the_weight_bounds_are_the_clinics():
    with pytest.raises(InvalidInput):
        dose.check_weight("30", (Decimal(40), Decimal(200)))
    assert dose.check_weight("30") == Decimal(30)  # shipped bounds 25-350 kg


# ---------------------------------------------------------------------------------------------
# Range check and override

A = Signer(user_id=1, roles=frozenset({"prescriber"}))
B = Signer(user_id=2, roles=frozenset({"prescriber", "nurse"}))
NURSE = Signer(user_id=3, roles=frozenset({"nurse"}))
REASON = "Partial response at 1 mg/kg over three sessions; no adverse effects."


def iv(mg, weight="70"):
    return dose.calculate(IV, weight_kg=weight, mg=mg)


@pytest.mark.parametrize(
    ("rule", "calculated", "inside"),
    [
        (IV, iv("35"), True),  # 0.5 mg/kg
        (IV, iv("70"), True),  # 1.0 mg/kg
        (IV, iv("34.9"), False),
        (IV, iv("70.1"), False),
        (IN, dose.calculate(IN, mg="56"), True),
        (IN, dose.calculate(IN, mg="28"), False),  # the 65-and-over dose is not shipped
        (IN, dose.calculate(IN, mg="112"), False),
        (SL, dose.calculate(SL, mg="200"), True),
        (SL, dose.calculate(SL, mg="250"), False),
    ],
)
def test_the_range_check(rule, calculated, inside):
    if inside:
        decision = dose.decide(rule, calculated)
        assert decision.in_range and decision.override is None
    else:
        with pytest.raises(DoseOutOfRange) as caught:
            dose.decide(rule, calculated)
        assert caught.value.field == "dose_mg"
        assert rule.range_text in caught.value.message
        assert "co-signature" in caught.value.message


def test_a_refusal_names_the_rule_not_the_value():
    with pytest.raises(DoseOutOfRange) as caught:
        dose.decide(IV, iv("123.4"))
    assert "123.4" not in str(caught.value)
    assert "0.5 to 1.0 mg/kg" in str(caught.value)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (DoseOverride(A, REASON, B), None),
        (DoseOverride(B, REASON, A), None),
        (DoseOverride(NURSE, REASON, B), "prescriber"),
        (DoseOverride(A, "", B), "reason"),
        (DoseOverride(A, "higher", B), "reason"),
        (DoseOverride(A, REASON, None), "co_signer"),
        (DoseOverride(A, REASON, NURSE), "co_signer"),
        # The same prescriber twice is not a second pair of eyes.
        (DoseOverride(A, REASON, A), "co_signer"),
        (DoseOverride(A, REASON, Signer("1", frozenset({"prescriber"}))), "co_signer"),
    ],
)
def test_a_dose_override_needs_two_different_prescribers_and_a_reason(override, field):
    assert dose.can_override_dose(override) is (field is None)
    if field is None:
        decision = dose.decide(IV, iv("84"), override)
        assert not decision.in_range
        assert decision.override.reason == REASON
    else:
        with pytest.raises(InvalidInput) as caught:
            dose.decide(IV, iv("84"), override)
        assert caught.value.field == field


def test_an_override_is_refused_for_a_dose_inside_the_range():
    with pytest.raises(InvalidInput) as caught:
        dose.decide(IV, iv("35"), DoseOverride(A, REASON, B))
    assert caught.value.field == "override"


def test_no_override_gets_past_impossible_input():
    with pytest.raises(InvalidInput) as caught:
        dose.calculate(IV, weight_kg="700", mg="84")
    assert caught.value.field == "weight_kg"


def test_a_dose_is_judged_on_its_own_route():
    with pytest.raises(InvalidInput) as caught:
        dose.decide(IM, iv("35"))
    assert caught.value.field == "route"


# ---------------------------------------------------------------------------------------------
# Titration


@pytest.mark.parametrize(
    ("rule", "current", "up", "down"),
    [
        (SC, "0.25", "0.5", None),
        (SC, "0.5", "1.0", "0.25"),
        (SC, "1.0", None, "0.5"),
        (SC, "0.4", "0.5", "0.25"),  # between levels
        (IN, "56", "84", None),
        (IN, "84", None, "56"),
        (IV, "0.5", None, None),  # no levels shipped
        (SL, "100", None, None),
    ],
)
def test_titration_step(rule, current, up, down):
    step = dose.titration_step(rule, current)
    assert step.up == (None if up is None else Decimal(up))
    assert step.down == (None if down is None else Decimal(down))
    assert step.source == rule.titration.source
    assert step.unit == rule.basis.unit


def test_titration_of_nothing_is_refused():
    with pytest.raises(InvalidInput):
        dose.titration_step(SC, "0")


# ---------------------------------------------------------------------------------------------
# Properties

weights = st.decimals(min_value=Decimal(25), max_value=Decimal(350), places=2)
concentrations = st.sampled_from([Decimal(10), Decimal(50), Decimal(100)])
steps = st.sampled_from([Decimal("0.01"), Decimal("0.05"), Decimal("0.1")])


@given(
    weights,
    st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.0"), places=3),
    concentrations,
    steps,
)
def test_a_dose_inside_the_range_stays_inside_after_rounding(weight, per_kg, concentration, step):
    calculated = dose.calculate(
        IV,
        weight_kg=weight,
        mg_per_kg=per_kg,
        concentration_mg_per_ml=concentration,
        volume_step_ml=step,
    )
    assert dose.in_range(IV, calculated.mg, weight)
    assert calculated.mg == calculated.volume_ml * concentration
    assert calculated.volume_ml % step == 0
    # Never further than one measurable step from what was calculated.
    assert abs(calculated.mg - calculated.calculated_mg) <= step * concentration


@given(
    weights, st.decimals(min_value=Decimal("0.05"), max_value=Decimal(10), places=2), concentrations
)
def test_rounding_to_the_nearest_step_when_outside_the_range(weight, per_kg, concentration):
    calculated = dose.calculate(
        IM,
        weight_kg=weight,
        mg_per_kg=per_kg,
        concentration_mg_per_ml=concentration,
        volume_step_ml=STEP,
    )
    assert abs(calculated.mg - calculated.calculated_mg) <= STEP * concentration
    if not dose.in_range(IM, calculated.calculated_mg, weight):
        assert abs(calculated.mg - calculated.calculated_mg) <= STEP * concentration / 2


@given(weights, weights)
def test_a_heavier_patient_never_gets_a_smaller_starting_dose(a, b):
    light, heavy = sorted((a, b))
    first = dose.starting_dose(SC, weight_kg=light, concentration_mg_per_ml=50, volume_step_ml=STEP)
    second = dose.starting_dose(
        SC, weight_kg=heavy, concentration_mg_per_ml=50, volume_step_ml=STEP
    )
    assert first.mg <= second.mg
