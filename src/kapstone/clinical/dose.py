"""Dose arithmetic and dose safety: from the protocol's rule and the patient's weight to what is
drawn up, and the gate for a dose outside the range.

    rule = protocols.library().route("iv")
    dose = dose.starting_dose(rule, weight_kg="70", concentration_mg_per_ml="50",
                              volume_step_ml=lib.volume_step_ml)
    dose.mg, dose.volume_ml, dose.infusion_minutes
    decision = dose.decide(rule, dose, override=None)   # DoseOutOfRange outside the range

Decimal arithmetic throughout. A volume is rounded to the step the clinic can measure (the
library's ``volume_step_ml``), and the dose in mg is then what that volume holds, so the
record says what is given rather than what was calculated. Rounding never leaves the
protocol's range: a dose computed inside it is rounded towards its middle when the nearest
step would fall outside. A dose outside the range is refused unless a prescriber overrides it
with a written reason and a second, different prescriber co-signs. Impossible input (a weight
outside the clinic's plausible bounds, a dose of zero or less, an unknown route) raises
InvalidInput naming the field. Pure Python.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from kapstone.access.roles import Role
from kapstone.clinical.config import ClinicConfig
from kapstone.clinical.protocols import Basis, Form, RouteRule
from kapstone.clinical.units import parse_decimal
from kapstone.errors import InvalidInput

from .gates import Refused, allowed, check_reason, check_role

# Without a stock concentration a dose stays in mg, kept to 0.1 mg: finer than any dose here
# is measured, coarse enough that arithmetic noise never shows.
MG_STEP = Decimal("0.1")
RATE_STEP = Decimal("0.01")
MG_PER_KG_STEP = Decimal("0.001")


class DoseOutOfRange(InvalidInput):
    """A dose outside the protocol's range: refused unless overridden and co-signed."""


@dataclass(frozen=True)
class Dose:
    route: str
    mg: Decimal  # what is given: the measured volume times the concentration
    calculated_mg: Decimal  # before rounding to a measurable amount
    mg_per_kg: Decimal | None  # mg / weight, to 0.001 mg/kg, for display
    weight_kg: Decimal | None
    volume_ml: Decimal | None = None
    concentration_mg_per_ml: Decimal | None = None
    devices: int | None = None
    administration_minutes: int | None = None  # devices: first device to last, with rests
    infusion_minutes: int | None = None
    mg_per_minute: Decimal | None = None
    notes: tuple[str, ...] = ()


def check_weight(weight_kg: object, bounds: tuple[Decimal, Decimal] | None = None) -> Decimal:
    """The weight as a Decimal, refused outside the clinic's plausible bounds."""
    low, high = bounds or ClinicConfig().bounds("weight_kg")
    weight = parse_decimal("weight_kg", weight_kg)
    if not low <= weight <= high:
        raise InvalidInput("weight_kg", f"must be between {low} and {high} kg for an adult")
    return weight


def _positive(field: str, value: object, unit: str) -> Decimal:
    number = parse_decimal(field, value)
    if number <= 0:
        raise InvalidInput(field, f"must be more than 0 {unit}")
    return number


def range_mg(rule: RouteRule, weight_kg: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """The protocol's range in mg: exact, from the weight when the rule is weight-based."""
    if rule.basis is Basis.MG_PER_KG:
        if weight_kg is None:
            raise InvalidInput("weight_kg", "is required for a weight-based dose")
        return rule.min * weight_kg, rule.max * weight_kg
    return rule.min, rule.max


def in_range(rule: RouteRule, mg: Decimal, weight_kg: Decimal | None = None) -> bool:
    if rule.basis is Basis.DEVICES:
        return mg in rule.doses
    low, high = range_mg(rule, weight_kg)
    return low <= mg <= high


def _round(amount: Decimal, step: Decimal, bounds: tuple[Decimal, Decimal] | None) -> Decimal:
    """To the nearest step; kept inside ``bounds`` (the range the amount lies in) when a step
    fits there."""
    steps = (amount / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    rounded = steps * step
    if bounds is not None:
        low, high = bounds
        if rounded < low:
            rounded = (low / step).quantize(Decimal(1), rounding=ROUND_CEILING) * step
        elif rounded > high:
            rounded = (high / step).quantize(Decimal(1), rounding=ROUND_FLOOR) * step
    return rounded


def calculate(
    rule: RouteRule,
    *,
    weight_kg: object = None,
    mg_per_kg: object = None,
    mg: object = None,
    concentration_mg_per_ml: object = None,
    volume_step_ml: object = None,
    infusion_minutes: object = None,
    weight_bounds: tuple[Decimal, Decimal] | None = None,
) -> Dose:
    """One dose on a route, from mg/kg (weight-based routes) or mg. Raises InvalidInput for
    impossible input; does not judge the range (see ``decide``)."""
    weight = None
    if weight_kg is not None or rule.basis is Basis.MG_PER_KG:
        if weight_kg is None:
            raise InvalidInput("weight_kg", "is required for a weight-based dose")
        weight = check_weight(weight_kg, weight_bounds)
    if (mg_per_kg is None) == (mg is None):
        raise InvalidInput("dose", "give the dose either in mg/kg or in mg")
    if mg_per_kg is not None:
        if rule.basis is not Basis.MG_PER_KG:
            raise InvalidInput("mg_per_kg", f"{rule.label} is dosed in mg, not by weight")
        calculated = _positive("mg_per_kg", mg_per_kg, "mg/kg") * weight
    else:
        calculated = _positive("dose_mg", mg, "mg")

    fields: dict = {}
    notes: list[str] = []
    # Rounding keeps a dose that is inside the range inside it; one outside stays outside.
    bounds = None
    if rule.basis is not Basis.DEVICES and in_range(rule, calculated, weight):
        bounds = range_mg(rule, weight)
    if rule.form is Form.DEVICE:
        if calculated % rule.device_mg:
            raise InvalidInput("dose_mg", f"must be a whole number of {rule.device_mg} mg devices")
        given = calculated
        devices = int(calculated / rule.device_mg)
        fields.update(
            devices=devices, administration_minutes=(devices - 1) * rule.device_rest_minutes
        )
    elif rule.form is Form.SOLUTION and concentration_mg_per_ml is not None:
        concentration = _positive("concentration_mg_per_ml", concentration_mg_per_ml, "mg/mL")
        step = _positive("volume_step_ml", volume_step_ml, "mL")
        volume_bounds = bounds and (bounds[0] / concentration, bounds[1] / concentration)
        volume = _round(calculated / concentration, step, volume_bounds)
        if volume <= 0:
            raise InvalidInput("dose_mg", "is less than the smallest volume that can be measured")
        given = volume * concentration
        fields.update(volume_ml=volume, concentration_mg_per_ml=concentration)
        if rule.dilute_from_mg_per_ml is not None and concentration >= rule.dilute_from_mg_per_ml:
            notes.append(
                f"Dilute before giving: {rule.dilute_from_mg_per_ml} mg/mL and stronger is not "
                f"given undiluted by this route. Source: {rule.dilute_source}"
            )
    else:
        given = _round(calculated, MG_STEP, bounds)
        if given <= 0:
            raise InvalidInput("dose_mg", f"must be at least {MG_STEP} mg")
        if rule.form is Form.SOLUTION:
            notes.append("Give the stock concentration to have the volume to draw up")

    if rule.infusion_minutes is not None:
        minutes = rule.infusion_minutes if infusion_minutes is None else infusion_minutes
        if type(minutes) is not int or not (
            rule.min_infusion_minutes <= minutes <= rule.max_infusion_minutes
        ):
            raise InvalidInput(
                "infusion_minutes",
                f"must be a whole number from {rule.min_infusion_minutes} to "
                f"{rule.max_infusion_minutes} minutes ({rule.infusion_source})",
            )
        rate = (given / minutes).quantize(RATE_STEP, rounding=ROUND_HALF_UP)
        fields.update(infusion_minutes=minutes, mg_per_minute=rate)
    elif infusion_minutes is not None:
        raise InvalidInput("infusion_minutes", f"{rule.label} is not an infusion")

    per_kg = None
    if weight is not None:
        per_kg = (given / weight).quantize(MG_PER_KG_STEP, rounding=ROUND_HALF_UP)
    return Dose(
        route=rule.route.value,
        mg=given,
        calculated_mg=calculated,
        mg_per_kg=per_kg,
        weight_kg=weight,
        notes=tuple(notes),
        **fields,
    )


def starting_dose(
    rule: RouteRule,
    *,
    weight_kg: object = None,
    concentration_mg_per_ml: object = None,
    volume_step_ml: object = None,
    weight_bounds: tuple[Decimal, Decimal] | None = None,
) -> Dose:
    """The protocol's starting dose for this patient (weight-based routes need the weight)."""
    amount = {"mg_per_kg": rule.start} if rule.basis is Basis.MG_PER_KG else {"mg": rule.start}
    return calculate(
        rule,
        weight_kg=weight_kg,
        concentration_mg_per_ml=concentration_mg_per_ml,
        volume_step_ml=volume_step_ml,
        weight_bounds=weight_bounds,
        **amount,
    )


# ---------------------------------------------------------------------------------------------
# Range check and override

OVERRIDERS = frozenset({Role.PRESCRIBER})


@dataclass(frozen=True)
class Signer:
    user_id: int | str
    roles: frozenset[str]


@dataclass(frozen=True)
class DoseOverride:
    """A prescriber's decision to give a dose outside the range, co-signed by another."""

    prescriber: Signer
    reason: str
    co_signer: Signer | None


@dataclass(frozen=True)
class DoseDecision:
    dose: Dose
    in_range: bool
    override: DoseOverride | None = None  # with the reason trimmed


def out_of_range_message(rule: RouteRule) -> str:
    return (
        f"is outside the protocol's range for {rule.label} ({rule.range_text}); a prescriber "
        "may override with a written reason and a second prescriber's co-signature"
    )


def check_can_override_dose(override: DoseOverride) -> str:
    """Refuse unless a prescriber gives a written reason and a different prescriber co-signs.
    Returns the reason, trimmed."""
    check_role("prescriber", override.prescriber.roles, OVERRIDERS, "override a dose")
    reason = check_reason("reason", override.reason, "give a dose outside the range")
    if override.co_signer is None:
        raise Refused("co_signer", "is required: a second prescriber co-signs a dose override")
    check_role("co_signer", override.co_signer.roles, OVERRIDERS, "co-sign a dose override")
    if str(override.co_signer.user_id) == str(override.prescriber.user_id):
        raise Refused("co_signer", "must be a different prescriber from the one overriding")
    return reason


def can_override_dose(override: DoseOverride) -> bool:
    return allowed(check_can_override_dose, override)


def decide(rule: RouteRule, dose: Dose, override: DoseOverride | None = None) -> DoseDecision:
    """Accept a dose inside the protocol's range; refuse one outside it (DoseOutOfRange) unless
    the override passes ``check_can_override_dose``."""
    if rule.route.value != dose.route:
        raise InvalidInput("route", "the dose was calculated for another route")
    inside = in_range(rule, dose.mg, dose.weight_kg)
    if inside:
        if override is not None:
            raise Refused("override", "is only for a dose outside the protocol's range")
        return DoseDecision(dose, in_range=True)
    if override is None:
        raise DoseOutOfRange("dose_mg", out_of_range_message(rule))
    reason = check_can_override_dose(override)
    return DoseDecision(
        dose,
        in_range=False,
        override=DoseOverride(override.prescriber, reason, override.co_signer),
    )


# ---------------------------------------------------------------------------------------------
# Titration


@dataclass(frozen=True)
class TitrationStep:
    """The next level up and down from the current dose, in the route's unit (mg/kg or mg).
    A suggestion for the prescriber; None where there is no level that way."""

    current: Decimal
    unit: str
    up: Decimal | None
    down: Decimal | None
    source: str
    note: str


def titration_step(rule: RouteRule, current: object) -> TitrationStep:
    amount = _positive("current_dose", current, rule.basis.unit)
    levels = rule.titration.levels
    if not levels:
        return TitrationStep(
            amount,
            rule.basis.unit,
            None,
            None,
            rule.titration.source,
            "The protocol library gives no titration levels for this route",
        )
    up = next((level for level in levels if level > amount), None)
    down = next((level for level in reversed(levels) if level < amount), None)
    if up is None:
        note = "At the top of the protocol's titration levels"
    elif amount not in levels:
        note = "The current dose is not one of the protocol's titration levels"
    else:
        note = "The next level up, if the response and tolerability call for it"
    return TitrationStep(amount, rule.basis.unit, up, down, rule.titration.source, note)
