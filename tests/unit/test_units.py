from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.clinical import units
from kapstone.errors import InvalidInput

BOUNDS = (Decimal(25), Decimal(350))
HEIGHT_BOUNDS = (Decimal(100), Decimal(250))


@pytest.mark.parametrize(
    ("value", "unit", "kg"),
    [
        ("70", "kg", Decimal("70.00")),
        ("154", "lb", Decimal("69.85")),  # 154 x 0.45359237 = 69.853...
        ("220.5", "lb", Decimal("100.02")),
        (" 82.345 ", "kg", Decimal("82.35")),  # half-up at the 0.01 kg step
        ("25", "kg", Decimal("25.00")),  # the lower bound is allowed
        ("350", "kg", Decimal("350.00")),
        (Decimal(100), "lb", Decimal("45.36")),
    ],
)
def test_weight_to_kg_converts_and_rounds(value, unit, kg):
    assert units.weight_to_kg(value, unit, BOUNDS) == kg


@pytest.mark.parametrize(
    ("value", "unit", "field", "fragment"),
    [
        ("0", "kg", "weight", "between 25 and 350 kg"),
        ("700", "kg", "weight", "between 25 and 350 kg"),
        ("-70", "kg", "weight", "between"),
        ("24.99", "kg", "weight", "between"),
        ("800", "lb", "weight", "between"),
        ("seventy", "kg", "weight", "must be a number"),
        ("", "kg", "weight", "must be a number"),
        ("NaN", "kg", "weight", "must be a number"),
        ("Infinity", "kg", "weight", "must be a number"),
        ("70", "stone", "weight_unit", "must be kg or lb"),
    ],
)
def test_weight_refused_with_field_and_rule(value, unit, field, fragment):
    with pytest.raises(InvalidInput) as caught:
        units.weight_to_kg(value, unit, BOUNDS)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_weight_message_gives_both_units():
    with pytest.raises(InvalidInput) as caught:
        units.weight_to_kg("700", "kg", BOUNDS)
    assert "(55.1 to 771.6 lb)" in caught.value.message


@pytest.mark.parametrize(
    ("value", "unit", "cm"),
    [
        ("170", "cm", Decimal("170.0")),
        ("67", "in", Decimal("170.2")),
        ("72.5", "in", Decimal("184.2")),
    ],
)
def test_height_to_cm(value, unit, cm):
    assert units.height_to_cm(value, unit, HEIGHT_BOUNDS) == cm


@pytest.mark.parametrize(("value", "unit"), [("0", "cm"), ("300", "cm"), ("20", "in"), ("5", "ft")])
def test_height_refused(value, unit):
    with pytest.raises(InvalidInput):
        units.height_to_cm(value, unit, HEIGHT_BOUNDS)


def test_body_mass_index():
    assert units.body_mass_index(Decimal(70), Decimal(175)) == Decimal("22.9")


@given(st.decimals(min_value=Decimal(56), max_value=Decimal(770), places=1))
def test_pounds_round_trip_within_display_precision(lb):
    kg = units.weight_to_kg(lb, "lb", BOUNDS)
    assert abs(units.kg_to_lb(kg) - lb) <= Decimal("0.1")


@given(
    st.decimals(min_value=Decimal(25), max_value=Decimal(350), places=2),
    st.decimals(min_value=Decimal(25), max_value=Decimal(350), places=2),
)
def test_conversion_is_monotone(a, b):
    low, high = sorted((a, b))
    assert units.weight_to_kg(low, "kg", BOUNDS) <= units.weight_to_kg(high, "kg", BOUNDS)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_any_accepted_weight_is_within_bounds(kg):
    try:
        stored = units.weight_to_kg(kg, "kg", BOUNDS)
    except InvalidInput:
        return
    assert BOUNDS[0] <= stored <= BOUNDS[1]


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_height_input_is_accepted_in_bounds_or_refused(cm):
    try:
        stored = units.height_to_cm(cm, "cm", HEIGHT_BOUNDS)
    except InvalidInput:
        return
    assert HEIGHT_BOUNDS[0] <= stored <= HEIGHT_BOUNDS[1]
