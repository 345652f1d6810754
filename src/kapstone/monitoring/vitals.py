"""Vital signs during a dosing session: what is plausible, what needs review, what is due.

The vitals, their LOINC codes, units, plausibility ranges and alert thresholds are reviewed
data in ``data/vitals.toml``, each with its source. A reading outside its plausibility range
is refused (a slipped digit or a device artefact, never a patient); a plausible reading
beyond a clinic's threshold raises an alert for review. Pure Python.
"""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from kapstone.errors import InvalidInput, InvalidInputs


class Vital(StrEnum):
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    MEAN_BP = "mean_bp"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESPIRATORY_RATE = "respiratory_rate"
    TEMPERATURE = "temperature"
    MOAAS = "moaas"
    CADSS = "cadss"


@dataclass(frozen=True)
class VitalSpec:
    vital: Vital
    label: str
    loinc: str
    unit: str
    minimum: Decimal
    maximum: Decimal
    integer: bool
    source: str


@dataclass(frozen=True)
class Threshold:
    """Alert when a reading is strictly above `above` or strictly below `below`."""

    vital: Vital
    above: Decimal | None
    below: Decimal | None
    source: str


@dataclass(frozen=True)
class Reading:
    """One plausible measurement, in the vital's own unit."""

    vital: Vital
    value: Decimal
    unit: str
    loinc: str
    taken_at: datetime | None = None


@dataclass(frozen=True)
class VitalAlert:
    """A reading beyond a threshold. `rule` is "above" or "below"; `limit` the threshold."""

    reading: Reading
    rule: str
    limit: Decimal
    source: str

    def __str__(self) -> str:
        # Names the vital and the rule; the value stays on the reading.
        return f"{self.reading.vital.value}: {self.rule} {self.limit} {self.reading.unit}"


@cache
def _data() -> dict[str, Any]:
    text = resources.files("kapstone.monitoring").joinpath("data/vitals.toml").read_text()
    return tomllib.loads(text)


@cache
def specs() -> dict[Vital, VitalSpec]:
    out = {}
    for name, entry in _data()["vitals"].items():
        vital = Vital(name)
        out[vital] = VitalSpec(
            vital=vital,
            label=entry["label"],
            loinc=entry["loinc"],
            unit=entry["unit"],
            minimum=Decimal(entry["min"]),
            maximum=Decimal(entry["max"]),
            integer=entry["integer"],
            source=entry["source"],
        )
    return out


def spec(vital: Vital | str) -> VitalSpec:
    return specs()[Vital(vital)]


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool | float):
        # A float has already lost the digits that were typed; callers pass text or Decimal.
        return None
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def check_reading(
    vital: Vital | str,
    value: object,
    *,
    unit: str | None = None,
    taken_at: datetime | None = None,
) -> Reading:
    """A plausible reading, or InvalidInput naming the vital and the rule broken.

    `value` is text, int or Decimal; `unit`, when given, must be the vital's UCUM unit.
    """
    try:
        vital = Vital(vital)
    except ValueError:
        raise InvalidInput("vital", "is not a vital sign Kapstone records") from None
    entry = spec(vital)
    if unit is not None and unit != entry.unit:
        raise InvalidInput(vital.value, f"must be given in {entry.unit}")
    number = _decimal(value)
    if number is None:
        raise InvalidInput(vital.value, "must be a number")
    if entry.integer and number != number.to_integral_value():
        raise InvalidInput(vital.value, "must be a whole number")
    if not entry.minimum <= number <= entry.maximum:
        raise InvalidInput(
            vital.value,
            f"must be between {entry.minimum} and {entry.maximum} {entry.unit} "
            "(physiologically possible range)",
        )
    if taken_at is not None and taken_at.tzinfo is None:
        raise InvalidInput("taken_at", "must carry a time zone")
    return Reading(vital, number, entry.unit, entry.loinc, taken_at)


def check_blood_pressure(systolic: Reading, diastolic: Reading) -> None:
    """Refuse a pair whose systolic does not exceed its diastolic (a swapped or bad cuff read)."""
    if systolic.value <= diastolic.value:
        raise InvalidInput("systolic_bp", "must exceed the diastolic pressure")


def check_readings(
    values: Mapping[Vital | str, object], *, taken_at: datetime | None = None
) -> list[Reading]:
    """A hand-entered set of vitals taken together: every bad field reported at once."""
    readings: dict[Vital, Reading] = {}
    errors: list[InvalidInput] = []
    for vital, value in values.items():
        if value is None or value == "":
            continue
        try:
            reading = check_reading(vital, value, taken_at=taken_at)
        except InvalidInput as error:
            errors.append(error)
        else:
            readings[reading.vital] = reading
    systolic = readings.get(Vital.SYSTOLIC_BP)
    diastolic = readings.get(Vital.DIASTOLIC_BP)
    if systolic and diastolic:
        try:
            check_blood_pressure(systolic, diastolic)
        except InvalidInput as error:
            errors.append(error)
    if errors:
        raise InvalidInputs(errors)
    return list(readings.values())


def thresholds(
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[Vital, Threshold]:
    """Shipped thresholds with a clinic's overrides, e.g. ``{"heart_rate": {"above": "120"}}``.

    An override must name a known vital and only `above` / `below`; "" or None clears one.
    """
    merged: dict[str, dict[str, object]] = {
        name: dict(entry) for name, entry in _data()["thresholds"].items()
    }
    for name, change in (overrides or {}).items():
        if name not in merged:
            raise InvalidInput("thresholds", "name a vital sign Kapstone records")
        for key, value in change.items():
            if key not in {"above", "below"}:
                raise InvalidInput(f"thresholds.{name}", "take only 'above' and 'below'")
            merged[name][key] = value
            merged[name]["source"] = "clinic setting"
    out = {}
    for name, entry in merged.items():
        vital = Vital(name)
        limits = {}
        for key in ("above", "below"):
            raw = entry.get(key)
            if raw is None or raw == "":
                limits[key] = None
                continue
            number = _decimal(raw)
            if number is None:
                raise InvalidInput(f"thresholds.{name}.{key}", "must be a number")
            limits[key] = number
        out[vital] = Threshold(vital, limits["above"], limits["below"], str(entry["source"]))
    return out


def alerts_for(
    readings: Iterable[Reading], limits: Mapping[Vital, Threshold] | None = None
) -> list[VitalAlert]:
    """The readings beyond their thresholds, in the order given."""
    limits = thresholds() if limits is None else limits
    alerts = []
    for reading in readings:
        threshold = limits.get(reading.vital)
        if threshold is None:
            continue
        if threshold.above is not None and reading.value > threshold.above:
            alerts.append(VitalAlert(reading, "above", threshold.above, threshold.source))
        if threshold.below is not None and reading.value < threshold.below:
            alerts.append(VitalAlert(reading, "below", threshold.below, threshold.source))
    return alerts


def readings_overdue(
    last_times: Mapping[Vital | str, datetime | None],
    interval_minutes: int,
    now: datetime,
) -> list[Vital]:
    """The vitals not taken within the protocol's interval (never taken counts as overdue).

    `last_times` names the vitals the protocol asks for, each with its latest reading's time.
    """
    if isinstance(interval_minutes, bool) or not isinstance(interval_minutes, int):
        raise InvalidInput("interval_minutes", "must be a whole number of minutes")
    if interval_minutes <= 0:
        raise InvalidInput("interval_minutes", "must be more than zero")
    if now.tzinfo is None:
        raise InvalidInput("now", "must carry a time zone")
    due_before = now - timedelta(minutes=interval_minutes)
    overdue = []
    for vital, last in last_times.items():
        if last is not None and last.tzinfo is None:
            raise InvalidInput(Vital(vital).value, "reading time must carry a time zone")
        if last is None or last <= due_before:
            overdue.append(Vital(vital))
    return overdue
