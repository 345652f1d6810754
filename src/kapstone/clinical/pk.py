"""Route-equivalent exposure: a compartment model of plasma ketamine after a planned dose.

    sim = pk.simulate_dose("iv", mg=35, weight_kg=70, infusion_minutes=40)
    sim.times_min, sim.concentrations_ng_ml, sim.peak_ng_ml, sim.assumptions
    pk.compare_routes([pk.Planned("iv", 35, infusion_minutes=40), pk.Planned("sl", 150)], 70)

The published one-, two- and three-compartment mammillary models (``data/pk.toml``, from
clinical-facts.md §1.6) with a zero-order infusion or bolus into the central compartment, or a
first-order depot for the other routes, scaled by the route's bioavailability F (§1.5). The
system is linear, so it is solved exactly between events with the matrix exponential: no
integration step error, and the area under the curve is carried as a state of its own.

No absorption rate constant (ka) was found for any route: ka is fitted so that the model's
peak after a single dose falls at the route's published time to peak, and the result says
so. Every result is an estimate and carries its assumptions; it is for comparing routes and
doses, not for predicting one patient's level. Pure Python (numpy).
"""

import copy
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from kapstone.clinical.config import merge
from kapstone.clinical.instruments.registry import DefinitionError, _Table
from kapstone.clinical.protocols import Route
from kapstone.errors import InvalidInput

# State: depot, central, second and third compartment amounts (mg), then the running integral
# of the central concentration (mg·min/L).
DEPOT, CENTRAL, PERIPHERAL_2, PERIPHERAL_3, AREA = range(5)
NG_PER_ML_PER_MG_PER_L = 1000.0
MAX_DURATION_MIN = 7 * 24 * 60


@dataclass(frozen=True)
class Model:
    id: str
    label: str
    compartments: int
    v1_l_per_kg: float
    k10: float
    reference: str
    source: str
    k12: float = 0.0
    k21: float = 0.0
    k13: float = 0.0
    k31: float = 0.0

    def central_volume_l(self, weight_kg: float) -> float:
        return self.v1_l_per_kg * weight_kg

    def clearance_l_per_min(self, weight_kg: float) -> float:
        return self.k10 * self.central_volume_l(weight_kg)

    def matrix(self, ka: float = 0.0) -> np.ndarray:
        """d(state)/dt = matrix @ state (plus any infusion into the central compartment)."""
        a = np.zeros((5, 5))
        a[DEPOT, DEPOT] = -ka
        a[CENTRAL, DEPOT] = ka
        a[CENTRAL, CENTRAL] = -(self.k10 + self.k12 + self.k13)
        a[CENTRAL, PERIPHERAL_2] = self.k21
        a[CENTRAL, PERIPHERAL_3] = self.k31
        a[PERIPHERAL_2, CENTRAL] = self.k12
        a[PERIPHERAL_2, PERIPHERAL_2] = -self.k21
        a[PERIPHERAL_3, CENTRAL] = self.k13
        a[PERIPHERAL_3, PERIPHERAL_3] = -self.k31
        return a


@dataclass(frozen=True)
class Absorption:
    route: Route
    bioavailability: float | None  # None: no figure, the route is not simulated
    tmax_minutes: float | None  # None for IV (given into the central compartment)
    source: str


@dataclass(frozen=True)
class PkData:
    version: str
    default_model: str
    models: Mapping[str, Model]
    absorption: Mapping[Route, Absorption]
    source: str
    caveat: str


# ---------------------------------------------------------------------------------------------
# Loading


@cache
def _shipped() -> dict[str, Any]:
    return tomllib.loads(resources.files("kapstone.clinical").joinpath("data/pk.toml").read_text())


def data(overrides: Mapping[str, Any] | None = None) -> PkData:
    """The models and absorption data, with a clinic's overrides of the absorption figures or the
    default model, e.g. ``{"absorption": {"sc": {"bioavailability": 0.9, "tmax_minutes": 20}}}``
    (a clinic giving a figure the reference lacks owns its source)."""
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in ("absorption", "default_model"):
            raise DefinitionError(f"pk: {key} is not a clinic setting")
    for route, changes in overrides.get("absorption", {}).items():
        if "source" in changes:
            raise DefinitionError(f"pk.absorption.{route}: source is not a clinic setting")
    base = copy.deepcopy(_shipped())
    # A clinic may give a figure the shipped file leaves out (SC): make room for it.
    for route, changes in overrides.get("absorption", {}).items():
        if route in base["absorption"]:
            for key in changes:
                if key in ("bioavailability", "tmax_minutes"):
                    base["absorption"][route].setdefault(key, None)
    try:
        merged = merge(base, overrides)
    except KeyError as error:
        raise DefinitionError(f"pk: {error.args[0]}") from None
    return parse(merged)


@cache
def shipped() -> PkData:
    return data()


def parse(raw: Mapping[str, Any]) -> PkData:
    top = _Table(dict(raw), "pk")
    version = top.required("version", str)
    default_model = top.required("default_model", str)
    models_table = top.table("models", required=True)
    models = {}
    for model_id in models_table.data:
        entry = models_table.table(model_id)
        models[model_id] = _model(model_id, entry)
        entry.done()
    models_table.done()
    if default_model not in models:
        raise DefinitionError(f"pk.default_model: not a model ({', '.join(models)})")
    absorption_table = top.table("absorption", required=True)
    absorption = {}
    for name in absorption_table.data:
        entry = absorption_table.table(name)
        try:
            route = Route(name)
        except ValueError:
            raise DefinitionError(f"{entry.where}: not a route") from None
        absorption[route] = _absorption(route, entry)
        entry.done()
    absorption_table.done()
    pk = PkData(
        version=version,
        default_model=default_model,
        models=models,
        absorption=absorption,
        source=top.required("source", str),
        caveat=top.required("caveat", str),
    )
    top.done()
    return pk


def _rate(entry: _Table, key: str, required: bool = True) -> float:
    value = entry.required(key, (int, float)) if required else entry.optional(key, (int, float))
    if value is None:
        return 0.0
    if not math.isfinite(value) or value < 0 or (required and value == 0):
        raise DefinitionError(f"{entry.where}.{key}: must be a positive number")
    return float(value)


def _model(model_id: str, entry: _Table) -> Model:
    compartments = entry.required("compartments", int)
    if compartments not in (1, 2, 3):
        raise DefinitionError(f"{entry.where}.compartments: must be 1, 2 or 3")
    model = Model(
        id=model_id,
        label=entry.required("label", str),
        compartments=compartments,
        v1_l_per_kg=_rate(entry, "v1_l_per_kg"),
        k10=_rate(entry, "k10"),
        k12=_rate(entry, "k12", required=compartments >= 2),
        k21=_rate(entry, "k21", required=compartments >= 2),
        k13=_rate(entry, "k13", required=compartments == 3),
        k31=_rate(entry, "k31", required=compartments == 3),
        reference=entry.required("reference", str),
        source=entry.required("source", str),
    )
    return model


def _absorption(route: Route, entry: _Table) -> Absorption:
    f = entry.optional("bioavailability", (int, float))
    tmax = entry.optional("tmax_minutes", (int, float))
    if f is not None and not 0 < f <= 1:
        raise DefinitionError(f"{entry.where}.bioavailability: must be above 0 and at most 1")
    if tmax is not None and not 0 < tmax <= 24 * 60:
        raise DefinitionError(f"{entry.where}.tmax_minutes: must be from 0 to 1440 minutes")
    if route is Route.IV:
        if tmax is not None:
            raise DefinitionError(f"{entry.where}: IV goes into the central compartment, no tmax")
    elif f is not None and tmax is None:
        raise DefinitionError(f"{entry.where}: a depot route needs tmax_minutes")
    return Absorption(
        route,
        None if f is None else float(f),
        None if tmax is None else float(tmax),
        entry.required("source", str),
    )


# ---------------------------------------------------------------------------------------------
# The exact solution


def expm(matrix: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring a Taylor series: the matrices here are 6 by
    6, so plain and exact to rounding error is better than clever."""
    norm = np.linalg.norm(matrix, ord=np.inf)
    squarings = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0 else 0
    scaled = matrix / (2**squarings)
    result = np.eye(len(matrix))
    term = np.eye(len(matrix))
    for n in range(1, 30):
        term = term @ scaled / n
        result = result + term
        if np.max(np.abs(term)) < 1e-18:
            break
    for _ in range(squarings):
        result = result @ result
    return result


class _Propagator:
    """Moves the state forward by a time step at a constant infusion rate, exactly: the
    constant input rides along as a sixth state fixed at 1."""

    def __init__(self, model: Model, ka: float, central_volume_l: float):
        self.base = np.zeros((6, 6))
        self.base[:5, :5] = model.matrix(ka)
        self.base[AREA, CENTRAL] = 1.0 / central_volume_l
        self.cache: dict[tuple[float, float], np.ndarray] = {}

    def step(self, state: np.ndarray, minutes: float, rate_mg_per_min: float) -> np.ndarray:
        key = (minutes, rate_mg_per_min)
        if key not in self.cache:
            augmented = self.base.copy()
            augmented[CENTRAL, 5] = rate_mg_per_min
            self.cache[key] = expm(augmented * minutes)
        return self.cache[key] @ state


@dataclass(frozen=True)
class Administration:
    """One input: a bolus or an infusion into the central compartment, or a depot dose of which
    the fraction ``bioavailability`` is absorbed at ``ka`` per minute."""

    start_min: float
    mg: float
    kind: str  # "bolus", "infusion" or "depot"
    minutes: float = 0.0  # infusion length
    bioavailability: float = 1.0


@dataclass(frozen=True)
class Simulation:
    times_min: tuple[float, ...]
    concentrations_ng_ml: tuple[float, ...]
    peak_ng_ml: float
    time_to_peak_min: float
    auc_ng_h_per_ml: float  # over the simulated window
    auc_inf_ng_h_per_ml: float  # to infinity: the window plus what is still in the body
    absorbed_mg: float  # F times the dose
    model: str
    ka_per_min: float | None
    assumptions: tuple[str, ...]


def _check_administrations(administrations: Sequence[Administration]) -> None:
    if not administrations:
        raise InvalidInput("administrations", "give at least one dose")
    for given in administrations:
        if given.kind not in ("bolus", "infusion", "depot"):
            raise InvalidInput("kind", "must be bolus, infusion or depot")
        values = (given.start_min, given.mg, given.minutes, given.bioavailability)
        if not all(math.isfinite(v) for v in values):
            raise InvalidInput("dose_mg", "must be a number")
        if given.mg <= 0:
            raise InvalidInput("dose_mg", "must be more than 0 mg")
        if given.start_min < 0:
            raise InvalidInput("start_min", "cannot be before the start of the simulation")
        if given.kind == "infusion" and given.minutes <= 0:
            raise InvalidInput("infusion_minutes", "must be more than 0 minutes")
        if not 0 < given.bioavailability <= 1:
            raise InvalidInput("bioavailability", "must be above 0 and at most 1")


def simulate(
    model: Model,
    weight_kg: float,
    administrations: Sequence[Administration],
    *,
    ka_per_min: float = 0.0,
    duration_min: float = 360.0,
    step_min: float = 1.0,
    assumptions: Iterable[str] = (),
) -> Simulation:
    """Central (plasma) concentration on a grid from 0 to ``duration_min``."""
    _check_administrations(administrations)
    if not math.isfinite(weight_kg) or weight_kg <= 0:
        raise InvalidInput("weight_kg", "must be more than 0 kg")
    if not 0 < step_min <= duration_min <= MAX_DURATION_MIN:
        raise InvalidInput("duration_min", f"must be from the step to {MAX_DURATION_MIN} minutes")
    if any(a.kind == "depot" for a in administrations) and not ka_per_min > 0:
        raise InvalidInput("ka_per_min", "a depot dose needs an absorption rate above 0")
    volume = model.central_volume_l(weight_kg)
    propagate = _Propagator(model, ka_per_min, volume)

    count = round(duration_min / step_min)
    grid = [i * step_min for i in range(count + 1)]
    instants: dict[float, list[Administration]] = {}
    changes = set()
    for given in administrations:
        if given.kind == "infusion":
            changes.update({given.start_min, given.start_min + given.minutes})
        else:
            instants.setdefault(given.start_min, []).append(given)
            changes.add(given.start_min)
    times = sorted(set(grid) | {t for t in changes if t <= duration_min})

    def rate_at(t: float) -> float:
        return sum(
            a.mg * a.bioavailability / a.minutes
            for a in administrations
            if a.kind == "infusion" and a.start_min <= t < a.start_min + a.minutes
        )

    state = np.zeros(6)
    state[5] = 1.0
    on_grid = set(grid)
    concentrations = []
    previous = 0.0
    for t in times:
        if t > previous:
            state = propagate.step(state, t - previous, rate_at(previous))
            previous = t
        for given in instants.get(t, ()):
            compartment = DEPOT if given.kind == "depot" else CENTRAL
            state[compartment] += given.mg * given.bioavailability
        if t in on_grid:
            concentrations.append(max(0.0, state[CENTRAL] / volume * NG_PER_ML_PER_MG_PER_L))

    absorbed = sum(a.mg * a.bioavailability for a in administrations)
    area = state[AREA]
    # Everything absorbed is cleared from the central compartment in the end, so the area to
    # infinity is the amount absorbed over the clearance (exact for these linear models).
    area_inf = absorbed / model.clearance_l_per_min(weight_kg)
    to_ng_h = NG_PER_ML_PER_MG_PER_L / 60.0
    peak_index = int(np.argmax(concentrations))
    return Simulation(
        times_min=tuple(grid),
        concentrations_ng_ml=tuple(float(c) for c in concentrations),
        peak_ng_ml=float(concentrations[peak_index]),
        time_to_peak_min=grid[peak_index],
        auc_ng_h_per_ml=float(area * to_ng_h),
        auc_inf_ng_h_per_ml=float(area_inf * to_ng_h),
        absorbed_mg=float(absorbed),
        model=model.id,
        ka_per_min=ka_per_min if ka_per_min > 0 else None,
        assumptions=tuple(assumptions),
    )


# ---------------------------------------------------------------------------------------------
# Absorption rate from the time to peak


def _depot_curve(model: Model, ka: float):
    """Central amount over time after a unit depot dose, as a sum of exponentials from the
    eigenvalues (a mammillary model's are real). The scale of the dose does not move the
    peak, so neither weight nor dose enters."""
    matrix = model.matrix(ka)[:AREA, :AREA]
    values, vectors = np.linalg.eig(matrix)
    start = np.zeros(AREA)
    start[DEPOT] = 1.0
    weights = vectors[CENTRAL, :] * np.linalg.solve(vectors, start)
    return lambda t: float(np.real(np.sum(weights * np.exp(values * t))))


def _peak_time(model: Model, ka: float) -> float:
    """The time of the peak after a depot dose, by golden-section search (the curve rises
    once and falls), to well under a second."""
    curve = _depot_curve(model, ka)
    ratio = (math.sqrt(5) - 1) / 2
    low, high = 0.0, 24 * 60.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    ca, cb = curve(a), curve(b)
    while high - low > 1e-3:
        if ca < cb:
            low, a, ca = a, b, cb
            b = low + ratio * (high - low)
            cb = curve(b)
        else:
            high, b, cb = b, a, ca
            a = high - ratio * (high - low)
            ca = curve(a)
    return (low + high) / 2


@cache
def fit_ka(model: Model, tmax_minutes: float) -> float:
    """The absorption rate constant (per minute) that puts the model's peak after one depot
    dose at ``tmax_minutes``, by bisection on log(ka): the peak comes sooner as ka rises."""
    low, high = math.log(1e-4), math.log(10.0)
    if not _peak_time(model, math.exp(high)) < tmax_minutes < _peak_time(model, math.exp(low)):
        raise InvalidInput("tmax_minutes", f"cannot be reached with the {model.label} model")
    for _ in range(50):
        middle = (low + high) / 2
        if _peak_time(model, math.exp(middle)) > tmax_minutes:
            low = middle
        else:
            high = middle
    return math.exp((low + high) / 2)


# ---------------------------------------------------------------------------------------------
# Planned doses by route


@dataclass(frozen=True)
class Planned:
    route: str
    mg: float
    infusion_minutes: float | None = None  # IV: None gives a bolus
    devices: int | None = None  # intranasal: the dose is split over the devices
    device_rest_minutes: float = 0.0


def model_for(model_id: str | None, pk: PkData) -> Model:
    model_id = model_id or pk.default_model
    if model_id not in pk.models:
        raise InvalidInput("model", f"must be one of {', '.join(pk.models)}")
    return pk.models[model_id]


def _absorption_for(route: str, pk: PkData) -> Absorption:
    try:
        absorption = pk.absorption[Route(route)]
    except (ValueError, KeyError):
        known = ", ".join(r.value for r in pk.absorption)
        raise InvalidInput("route", f"must be one of {known}") from None
    if absorption.bioavailability is None:
        raise InvalidInput(
            "route", f"has no bioavailability figure to simulate with ({absorption.source})"
        )
    return absorption


def _administrations(planned: Planned, absorption: Absorption) -> list[Administration]:
    f = absorption.bioavailability
    if absorption.tmax_minutes is None:
        if planned.infusion_minutes:
            return [Administration(0.0, planned.mg, "infusion", planned.infusion_minutes, f)]
        return [Administration(0.0, planned.mg, "bolus", 0.0, f)]
    if planned.infusion_minutes:
        raise InvalidInput("infusion_minutes", "only an IV dose is infused")
    devices = planned.devices or 1
    if type(devices) is not int or devices < 1:
        raise InvalidInput("devices", "must be a whole number of 1 or more")
    if planned.device_rest_minutes < 0:
        raise InvalidInput("device_rest_minutes", "cannot be negative")
    each = planned.mg / devices
    return [
        Administration(i * planned.device_rest_minutes, each, "depot", 0.0, f)
        for i in range(devices)
    ]


def assumptions_for(model: Model, pk: PkData, route: str, ka: float | None) -> tuple[str, ...]:
    absorption = pk.absorption[Route(route)]
    notes = [
        "An estimate from a population model, not this patient's level.",
        f"Model: {model.label} ({model.reference}); {model.source}.",
        pk.caveat,
        "Linear kinetics; plasma ketamine only (norketamine and other metabolites are left out).",
        f"Bioavailability {absorption.bioavailability:.0%}: {absorption.source}.",
    ]
    if ka is not None:
        notes.append(
            f"Absorption rate constant {ka:.4f} per minute is an assumption: no ka was found in "
            f"clinical-facts.md (§1.6), so it was fitted to put the peak after a single dose at "
            f"{absorption.tmax_minutes:g} minutes."
        )
    if route == Route.IN_ESKETAMINE:
        notes.append(
            "Esketamine is simulated with a racemic ketamine model: clinical-facts.md gives no "
            "esketamine model's parameters (§1.6 names Fanta et al. 2015 only)."
        )
    return tuple(notes)


def simulate_dose(
    planned: Planned,
    weight_kg: float,
    *,
    model_id: str | None = None,
    duration_min: float = 360.0,
    step_min: float = 1.0,
    pk: PkData | None = None,
) -> Simulation:
    """The predicted plasma concentration after one planned dose, with its assumptions."""
    pk = pk or shipped()
    model = model_for(model_id, pk)
    absorption = _absorption_for(planned.route, pk)
    ka = None if absorption.tmax_minutes is None else fit_ka(model, absorption.tmax_minutes)
    return simulate(
        model,
        float(weight_kg),
        _administrations(planned, absorption),
        ka_per_min=ka or 0.0,
        duration_min=duration_min,
        step_min=step_min,
        assumptions=assumptions_for(model, pk, planned.route, ka),
    )


@dataclass(frozen=True)
class RouteExposure:
    planned: Planned
    peak_ng_ml: float
    time_to_peak_min: float
    auc_inf_ng_h_per_ml: float
    simulation: Simulation


def compare_routes(
    plans: Sequence[Planned],
    weight_kg: float,
    *,
    model_id: str | None = None,
    duration_min: float = 360.0,
    pk: PkData | None = None,
) -> tuple[RouteExposure, ...]:
    """Peak, time to peak and total exposure (AUC to infinity) of each planned dose."""
    results = []
    for planned in plans:
        sim = simulate_dose(planned, weight_kg, model_id=model_id, duration_min=duration_min, pk=pk)
        results.append(
            RouteExposure(
                planned, sim.peak_ng_ml, sim.time_to_peak_min, sim.auc_inf_ng_h_per_ml, sim
            )
        )
    return tuple(results)


def equivalent_mg(mg: float, from_route: str, to_route: str, pk: PkData | None = None) -> float:
    """The dose on ``to_route`` with the same total exposure (AUC) as ``mg`` on ``from_route``:
    in a linear model exposure is F times the dose over the clearance. Peaks differ."""
    pk = pk or shipped()
    if not math.isfinite(mg) or mg <= 0:
        raise InvalidInput("dose_mg", "must be more than 0 mg")
    source = _absorption_for(from_route, pk)
    target = _absorption_for(to_route, pk)
    return mg * source.bioavailability / target.bioavailability
