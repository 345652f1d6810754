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


def _to_si(field, value, unit, units: dict[str, Decimal], step, bounds, out_of_range: str):
    number = parse_decimal(field, value)
    if unit not in units:
        raise InvalidInput(f"{field}_unit", f"must be {' or '.join(units)}")
    si = number * units[unit]
    low, high = bounds
    # Range first: rounding a number with more digits than Decimal's precision would fail.
    if low - 1 <= si <= high + 1:
        si = si.quantize(step, rounding=ROUND_HALF_UP)
    if not low <= si <= high:
        raise InvalidInput(field, out_of_range)
    return si


def weight_to_kg(value: object, unit: str, bounds: tuple[Decimal, Decimal]) -> Decimal:
    """Convert an entered weight to kilograms and check it is plausible for an adult."""
    low, high = bounds
    message = (
        f"must be between {low} and {high} kg ({kg_to_lb(low)} to {kg_to_lb(high)} lb) for an adult"
    )
    units = {WeightUnit.KG: Decimal(1), WeightUnit.LB: KG_PER_LB}
    return _to_si("weight", value, unit, units, KG_STEP, bounds, message)


def height_to_cm(value: object, unit: str, bounds: tuple[Decimal, Decimal]) -> Decimal:
    low, high = bounds
    units = {HeightUnit.CM: Decimal(1), HeightUnit.IN: CM_PER_IN}
    message = f"must be between {low} and {high} cm"
    return _to_si("height", value, unit, units, CM_STEP, bounds, message)


def kg_to_lb(kg: Decimal) -> Decimal:
    return (kg / KG_PER_LB).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def cm_to_in(cm: Decimal) -> Decimal:
    return (cm / CM_PER_IN).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def body_mass_index(weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    metres = height_cm / 100
    return (weight_kg / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
