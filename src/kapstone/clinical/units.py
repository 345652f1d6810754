"""Body measurements: units in, SI out, with exact decimal arithmetic.

Weights are stored in kilograms to 0.01 kg and heights in centimetres to 0.1 cm, whatever unit
the clinician typed, and the unit they typed is kept beside it. Conversion factors are the
international definitions (1 lb = 0.45359237 kg exactly, 1 in = 2.54 cm exactly).
Pure Python.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from kapstone.errors import InvalidInput

KG_PER_LB = Decimal("0.45359237")
CM_PER_IN = Decimal("2.54")
KG_STEP = Decimal("0.01")
CM_STEP = Decimal("0.1")


class WeightUnit(StrEnum):
    KG = "kg"
    LB = "lb"


class HeightUnit(StrEnum):
    CM = "cm"
    IN = "in"


def parse_decimal(field: str, value: object) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, "must be a number") from None
    if not number.is_finite():
        raise InvalidInput(field, "must be a number")
    return number


def weight_to_kg(value: object, unit: str, bounds: tuple[Decimal, Decimal]) -> Decimal:
    """Convert an entered weight to kilograms and check it is plausible for an adult."""
    number = parse_decimal("weight", value)
    try:
        unit = WeightUnit(unit)
    except ValueError:
        raise InvalidInput("weight_unit", "must be kg or lb") from None
    kg = number * KG_PER_LB if unit is WeightUnit.LB else number
    low, high = bounds
    # Range first: rounding a number with more digits than Decimal's precision would fail.
    if low - 1 <= kg <= high + 1:
        kg = kg.quantize(KG_STEP, rounding=ROUND_HALF_UP)
    if not low <= kg <= high:
        raise InvalidInput(
            "weight",
            f"must be between {low} and {high} kg "
            f"({kg_to_lb(low)} to {kg_to_lb(high)} lb) for an adult",
        )
    return kg


def height_to_cm(value: object, unit: str, bounds: tuple[Decimal, Decimal]) -> Decimal:
    number = parse_decimal("height", value)
    try:
        unit = HeightUnit(unit)
    except ValueError:
        raise InvalidInput("height_unit", "must be cm or in") from None
    cm = number * CM_PER_IN if unit is HeightUnit.IN else number
    low, high = bounds
    if low - 1 <= cm <= high + 1:
        cm = cm.quantize(CM_STEP, rounding=ROUND_HALF_UP)
    if not low <= cm <= high:
        raise InvalidInput("height", f"must be between {low} and {high} cm")
    return cm


def kg_to_lb(kg: Decimal) -> Decimal:
    return (kg / KG_PER_LB).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def cm_to_in(cm: Decimal) -> Decimal:
    return (cm / CM_PER_IN).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def body_mass_index(weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    metres = height_cm / 100
    return (weight_kg / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
