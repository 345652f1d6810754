"""The protocol library: routes with their dose rules, programs, and the integration rule.

    lib = protocols.library()                    # the newest shipped library
    lib = protocols.library("v1", overrides)     # with a clinic's changes
    rule = lib.route("iv")                       # InvalidInput for a route it does not have
    lib.program("standard").check_frequency(Decimal(1))

Reviewed data (``data/protocols/<version>.toml``), every default citing clinical-facts.md or
saying it has no source there. A treatment plan's protocol is the library version, the program
and the route; the dose arithmetic is in ``dose``. Pure Python.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from kapstone.clinical.instruments.registry import DefinitionError, _Table
from kapstone.errors import InvalidInput

from . import versioned

DATA = "data/protocols"


class Route(StrEnum):
    IV = "iv"
    IM = "im"
    SC = "sc"
    SL = "sl"
    IN_ESKETAMINE = "in_esketamine"


class Basis(StrEnum):
    MG_PER_KG = "mg_per_kg"  # a weight-based range
    MG = "mg"  # a fixed-dose range
    DEVICES = "devices"  # fixed doses of whole devices

    @property
    def unit(self) -> str:
        return {"mg_per_kg": "mg/kg", "mg": "mg", "devices": "mg"}[self.value]


class Form(StrEnum):
    SOLUTION = "solution"  # drawn up at a stock concentration: mg and mL
    SOLID = "solid"  # lozenge or troche: mg
    DEVICE = "device"  # single-use nasal device


@dataclass(frozen=True)
class Titration:
    """Dose levels to step between, in the route's basis unit. Empty: the library gives none,
    and ``source`` says so."""

    levels: tuple[Decimal, ...]
    source: str


@dataclass(frozen=True)
class RouteRule:
    route: Route
    label: str
    drug: str
    form: Form
    basis: Basis
    min: Decimal  # in the basis unit (mg/kg or mg)
    max: Decimal
    start: Decimal
    dose_source: str
    min_monitoring_minutes: int
    monitoring_source: str
    titration: Titration
    doses: tuple[Decimal, ...] = ()  # devices: the allowed doses in mg
    device_mg: Decimal | None = None
    device_rest_minutes: int | None = None
    infusion_minutes: int | None = None
    min_infusion_minutes: int | None = None
    max_infusion_minutes: int | None = None
    infusion_source: str | None = None
    dilute_from_mg_per_ml: Decimal | None = None
    dilute_source: str | None = None
    clinic_setting: bool = False

    @property
    def range_text(self) -> str:
        if self.basis is Basis.DEVICES:
            return " or ".join(f"{dose} mg" for dose in self.doses)
        return f"{self.min} to {self.max} {self.basis.unit}"


@dataclass(frozen=True)
class Program:
    id: str
    label: str
    sessions_per_week_min: Decimal
    sessions_per_week_max: Decimal
    rule: str
    source: str
    weeks_min: int | None = None
    weeks_max: int | None = None
    clinic_setting: bool = False

    def check_frequency(self, sessions_per_week: Decimal, weeks: int | None = None) -> None:
        """Refuse a schedule outside the program (InvalidInput naming the field)."""
        low, high = self.sessions_per_week_min, self.sessions_per_week_max
        if not low <= sessions_per_week <= high:
            raise InvalidInput(
                "sessions_per_week",
                f"must be from {low} to {high} dosing sessions a week in the {self.label} "
                f"program ({self.rule})",
            )
        if weeks is None or self.weeks_min is None:
            return
        if not self.weeks_min <= weeks <= self.weeks_max:
            raise InvalidInput(
                "weeks",
                f"must be from {self.weeks_min} to {self.weeks_max} in the {self.label} program",
            )


@dataclass(frozen=True)
class Integration:
    after_each_dosing: bool
    rule: str
    source: str


@dataclass(frozen=True)
class Library:
    version: str
    routes: Mapping[Route, RouteRule]
    programs: Mapping[str, Program]
    integration: Integration
    volume_step_ml: Decimal
    volume_step_source: str
    # The strengths (mg/mL) the clinic stocks, to show a drawn-up dose as a volume at each.
    stock_strengths_mg_per_ml: tuple[Decimal, ...]
    stock_source: str
    clinic_changes: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def route(self, route: str) -> RouteRule:
        try:
            return self.routes[Route(route)]
        except (ValueError, KeyError):
            known = ", ".join(r.value for r in self.routes)
            raise InvalidInput("route", f"must be one of {known}") from None

    def program(self, program_id: str) -> Program:
        try:
            return self.programs[program_id]
        except KeyError:
            known = ", ".join(self.programs)
            raise InvalidInput("program", f"must be one of {known}") from None


# ---------------------------------------------------------------------------------------------
# Loading

# Everything but the sources and labels is the clinic's to change.
OVERRIDABLE = {
    "routes": ("*",),
    "programs": ("*",),
    "measuring": ("volume_step_ml",),
    "stock": ("strengths_mg_per_ml",),
}


def versions() -> tuple[str, ...]:
    return versioned.versions(DATA)


def library(version: str | None = None, overrides: Mapping[str, Any] | None = None) -> Library:
    """A protocol library (the newest when no version is given) with a clinic's overrides,
    e.g. ``{"routes": {"iv": {"max": "0.75"}}, "measuring": {"volume_step_ml": "0.1"}}`` or
    ``{"stock": {"strengths_mg_per_ml": ["50", "100"]}}``."""
    version, data, changed = versioned.load(
        DATA, version, overrides, field="protocol_library_version", allowed=OVERRIDABLE
    )
    return parse(data, expected_version=version, changed=changed)


def _decimal(table: _Table, key: str, required: bool = True) -> Decimal | None:
    value = table.required(key, str) if required else table.optional(key, str)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise DefinitionError(f"{table.where}.{key}: must be a decimal number") from None
    if not number.is_finite() or number <= 0:
        raise DefinitionError(f"{table.where}.{key}: must be a positive number")
    return number


def _decimals(table: _Table, key: str, required: bool) -> tuple[Decimal, ...]:
    values = table.required(key, list) if required else table.optional(key, list, [])
    numbers = []
    for value in values:
        try:
            number = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number <= 0:
            raise DefinitionError(f"{table.where}.{key}: must be positive decimal strings")
        numbers.append(number)
    if list(numbers) != sorted(set(numbers)):
        raise DefinitionError(f"{table.where}.{key}: must rise, each value once")
    return tuple(numbers)


def _minutes(table: _Table, key: str, required: bool = False) -> int | None:
    value = table.required(key, int) if required else table.optional(key, int)
    if value is not None and value <= 0:
        raise DefinitionError(f"{table.where}.{key}: must be a positive whole number")
    return value


def _enum(kind: type, table: _Table, key: str):
    value = table.required(key, str)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise DefinitionError(f"{table.where}.{key}: must be one of {allowed}") from None


def parse(
    data: Mapping[str, Any], *, expected_version: str | None = None, changed=frozenset()
) -> Library:
    """Build a library from a parsed file, refusing anything that breaks the rules."""
    top = _Table(dict(data), "protocols")
    version = top.required("version", str)
    if expected_version is not None and version != expected_version:
        raise DefinitionError(f"protocols: version '{version}' is not the file's name")
    top.where = f"protocols {version}"

    measuring = top.table("measuring", required=True)
    step = _decimal(measuring, "volume_step_ml")
    step_source = measuring.required("source", str)
    measuring.done()

    stock = top.table("stock", required=True)
    strengths = _decimals(stock, "strengths_mg_per_ml", required=True)
    if not strengths:
        raise DefinitionError(f"{stock.where}.strengths_mg_per_ml: name at least one strength")
    stock_source = stock.required("source", str)
    stock.done()

    routes_table = top.table("routes", required=True)
    routes = {}
    for name in routes_table.data:
        entry = routes_table.table(name)
        try:
            route = Route(name)
        except ValueError:
            raise DefinitionError(f"{entry.where}: not a route Kapstone knows") from None
        routes[route] = _route(route, entry, changed=f"routes.{name}" in changed)
    routes_table.done()

    programs_table = top.table("programs", required=True)
    programs = {}
    for name in programs_table.data:
        entry = programs_table.table(name)
        programs[name] = _program(name, entry, changed=f"programs.{name}" in changed)
    programs_table.done()

    integration_table = top.table("integration", required=True)
    integration = Integration(
        after_each_dosing=integration_table.required("after_each_dosing", bool),
        rule=integration_table.required("rule", str),
        source=integration_table.required("source", str),
    )
    integration_table.done()
    top.done()
    return Library(
        version=version,
        routes=MappingProxyType(routes),
        programs=MappingProxyType(programs),
        integration=integration,
        volume_step_ml=step,
        volume_step_source=step_source,
        stock_strengths_mg_per_ml=strengths,
        stock_source=stock_source,
        clinic_changes=tuple(sorted(changed)),
        raw=MappingProxyType(dict(data)),
    )


def _route(route: Route, entry: _Table, changed: bool) -> RouteRule:
    where = entry.where
    basis = _enum(Basis, entry, "basis")
    form = _enum(Form, entry, "form")
    titration_table = entry.table("titration", required=True)
    titration = Titration(
        levels=_decimals(titration_table, "levels", required=False),
        source=titration_table.required("source", str),
    )
    titration_table.done()
    fields: dict[str, Any] = {
        "route": route,
        "label": entry.required("label", str),
        "drug": entry.required("drug", str),
        "form": form,
        "basis": basis,
        "start": _decimal(entry, "start"),
        "dose_source": entry.required("dose_source", str),
        "min_monitoring_minutes": _minutes(entry, "min_monitoring_minutes", required=True),
        "monitoring_source": entry.required("monitoring_source", str),
        "titration": titration,
        "clinic_setting": changed,
    }
    if basis is Basis.DEVICES:
        if form is not Form.DEVICE:
            raise DefinitionError(f"{where}.form: a dose in devices needs the device form")
        doses = _decimals(entry, "doses", required=True)
        device = _decimal(entry, "device_mg")
        if any(dose % device for dose in doses):
            raise DefinitionError(f"{where}.doses: each must be a whole number of devices")
        fields.update(
            doses=doses,
            device_mg=device,
            device_rest_minutes=_minutes(entry, "device_rest_minutes", required=True),
            min=doses[0],
            max=doses[-1],
        )
        if fields["start"] not in doses:
            raise DefinitionError(f"{where}.start: must be one of the doses")
    else:
        fields.update(min=_decimal(entry, "min"), max=_decimal(entry, "max"))
        if not fields["min"] <= fields["start"] <= fields["max"]:
            raise DefinitionError(f"{where}: start must lie from min to max")
    levels = titration.levels
    if levels and (levels[0] < fields["min"] or levels[-1] > fields["max"]):
        raise DefinitionError(f"{where}.titration.levels: must lie within the dose range")
    if form is Form.SOLUTION:
        fields.update(
            dilute_from_mg_per_ml=_decimal(entry, "dilute_from_mg_per_ml", required=False),
            dilute_source=entry.optional("dilute_source", str),
        )
    infusion = _minutes(entry, "infusion_minutes")
    if infusion is not None:
        low = _minutes(entry, "min_infusion_minutes", required=True)
        high = _minutes(entry, "max_infusion_minutes", required=True)
        if not low <= infusion <= high:
            raise DefinitionError(f"{where}.infusion_minutes: must lie from min to max")
        fields.update(
            infusion_minutes=infusion,
            min_infusion_minutes=low,
            max_infusion_minutes=high,
            infusion_source=entry.required("infusion_source", str),
        )
    if not fields["min"] <= fields["max"]:
        raise DefinitionError(f"{where}: min must not be above max")
    entry.done()
    return RouteRule(**fields)


def _program(name: str, entry: _Table, changed: bool) -> Program:
    low = _decimal(entry, "sessions_per_week_min")
    high = _decimal(entry, "sessions_per_week_max")
    if low > high:
        raise DefinitionError(f"{entry.where}: sessions_per_week_min is above the max")
    weeks_min = _minutes(entry, "weeks_min")
    weeks_max = _minutes(entry, "weeks_max")
    if (weeks_min is None) != (weeks_max is None) or (weeks_min or 0) > (weeks_max or 0):
        raise DefinitionError(f"{entry.where}: weeks_min and weeks_max go together, min first")
    program = Program(
        id=name,
        label=entry.required("label", str),
        sessions_per_week_min=low,
        sessions_per_week_max=high,
        weeks_min=weeks_min,
        weeks_max=weeks_max,
        rule=entry.required("rule", str),
        source=entry.required("source", str),
        clinic_setting=changed,
    )
    entry.done()
    return program


# ---------------------------------------------------------------------------------------------
# Integration after each dosing


@dataclass(frozen=True)
class Session:
    kind: str  # "dosing" or "integration"
    on: date | datetime


def dosings_without_integration(sessions: Sequence[Session]) -> tuple[Session, ...]:
    """Dosing sessions not followed by an integration session before the next dosing (the
    latest dosing counts too: its integration is still due)."""
    for session in sessions:
        if session.kind not in ("dosing", "integration"):
            raise InvalidInput("kind", "must be dosing or integration")
    # Integration on the day of dosing, after it, counts: dosing sorts first on a tie.
    ordered = sorted(sessions, key=lambda s: (s.on, s.kind != "dosing"))
    missing = []
    open_dosing = None
    for session in ordered:
        if session.kind == "dosing":
            if open_dosing is not None:
                missing.append(open_dosing)
            open_dosing = session
        else:
            open_dosing = None
    if open_dosing is not None:
        missing.append(open_dosing)
    return tuple(missing)
