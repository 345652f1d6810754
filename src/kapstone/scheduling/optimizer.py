"""The retreat optimizer: a whole cohort's dosing and integration sessions with OR-Tools CP-SAT.

    result = optimize(cohort, time_limit=10)
    result.status            # "OPTIMAL", "FEASIBLE", "INFEASIBLE" or "UNKNOWN"
    result.occurrences       # sessions with start, end, room and clinician
    result.objective, result.bound, result.gap, result.first_solution_seconds
    result.problems          # for an infeasible cohort: which rule cannot be met, in words

Hard rules (the validator in ``validate`` checks each independently): every patient gets
their dosing sessions, at most one a day and at least the minimum spacing apart; each is
followed by its integration session inside the window and before the next dosing; sessions
start at the cohort's slot times inside opening hours; a room of the right kind holds each
session and no room, patient or clinician is double-booked; each clinician has the role and
current credentials the session needs (``rules``: ACLS for ketamine, the modality's training
for integration), works those hours and takes no more than their sessions a day; a session
needing someone on site (a prescriber for esketamine) has them there.

Soft: the busiest dosing clinician's and the busiest therapist's session counts (load
balance), and sessions outside a patient's morning or afternoon preference, weighed by
``load_weight`` and ``preference_weight``.

An infeasible cohort is explained in two steps: fast counting checks per rule family
(patient by patient, room hours, qualified staff hours), then, if the solver still proves it
infeasible, the model again with each rule family behind an assumption, and the families in
the solver's infeasible core are named. Pure Python (no Django).
"""

import time as clock
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ortools.sat.python import cp_model

from kapstone.errors import InvalidInput

from .cohort import ROOM_FOR, Cohort, Patient, RoomKind
from .rules import Kind, Presence, required_credentials
from .series import Occurrence

FAMILIES = {
    "dosing_spacing": "dosing spacing (at most one a day, the minimum hours apart)",
    "integration_window": "integration window (after each dosing, before the next one)",
    "rooms": "room capacity",
    "staff": "staff hours and sessions a day",
}
SHORT = {
    "dosing_spacing": "the dosing sessions cannot be spaced out at the starts the other rules "
    "leave",
    "integration_window": "not every dosing session can have its integration session in the "
    "window at the starts the other rules leave",
    "rooms": "the rooms cannot hold every session at the starts the other rules leave",
    "staff": "the qualified clinicians cannot cover every session at the starts the other "
    "rules leave",
}


@dataclass(frozen=True)
class Problem:
    """A hard rule the cohort cannot meet: its family and what is short, in words."""

    rule: str
    message: str


@dataclass(frozen=True)
class Result:
    status: str
    occurrences: tuple[Occurrence, ...]
    objective: float | None
    bound: float | None
    gap: float | None
    solve_seconds: float
    first_solution_seconds: float | None
    problems: tuple[Problem, ...] = ()
    build_seconds: float = 0.0  # the counting checks and the model, before the solver starts
    progress: tuple[tuple[float, float], ...] = ()  # (solver seconds, objective) per solution

    @property
    def feasible(self) -> bool:
        return self.status in {"OPTIMAL", "FEASIBLE"}


def _minutes(cohort: Cohort, moment: datetime) -> int:
    return int((moment - datetime.combine(cohort.start, datetime.min.time())).total_seconds()) // 60


class _Grid:
    """Candidate starts and qualified clinicians per kind of session."""

    def __init__(self, cohort: Cohort):
        self.cohort = cohort
        self._qualified: dict[tuple, tuple[int, ...]] = {}
        self.starts = {kind: cohort.starts(kind) for kind in Kind}
        self.rooms = {
            kind: sum(1 for r in cohort.rooms if r.kind is ROOM_FOR[kind]) for kind in Kind
        }

    def qualified(self, kind: Kind, route: str | None, modality: str | None, start: datetime):
        """Clinicians who may run this session at this start (role, credentials, hours); none
        when someone needed on site is not there."""
        key = (kind, route, modality, start)
        if key not in self._qualified:
            self._qualified[key] = self._qualify(kind, route, modality, start)
        return self._qualified[key]

    def _qualify(self, kind: Kind, route: str | None, modality: str | None, start: datetime):
        cohort, end = self.cohort, start + timedelta(minutes=self.cohort.minutes(kind))
        spec = Patient("", 0, route or "", modality or "").spec(kind)
        rules, day = cohort.credential_rules, start.date()
        for credential in required_credentials(spec, Presence.ON_SITE, rules):
            if not any(credential in s.holds(day) and s.works(start, end) for s in cohort.staff):
                return ()
        needed = required_credentials(spec, Presence.ASSIGNED, rules)
        return tuple(
            index
            for index, s in enumerate(cohort.staff)
            if s.roles & rules.roles[kind] and needed <= s.holds(day) and s.works(start, end)
        )

    def options(self, patient: Patient, kind: Kind) -> list[tuple[datetime, tuple[int, ...]]]:
        route = patient.route if kind is Kind.DOSING else None
        modality = patient.modality if kind is Kind.INTEGRATION else None
        found = []
        for start in self.starts[kind]:
            staff = self.qualified(kind, route, modality, start)
            if staff and self.rooms[kind]:
                found.append((start, staff))
        return found


# ---------------------------------------------------------------------------------------------
# Counting checks: fast, and precise about what is short


def _fits(cohort: Cohort, dosings: Sequence[datetime], integrations: Sequence[datetime]) -> int:
    """The most dosing sessions (each with its integration) one patient could have with
    these starts, by the series rules alone: a longest path over dosing starts, where a
    dosing start's own integration only has to be the earliest one its window offers."""
    rules = cohort.series_rules
    low = timedelta(hours=float(rules.integration_min_hours))
    high = timedelta(hours=float(rules.integration_max_hours))
    dose_len = timedelta(minutes=cohort.dosing_minutes)
    talk_len = timedelta(minutes=cohort.integration_minutes)
    spacing = timedelta(hours=float(rules.min_spacing_hours))
    integrations = sorted(integrations)
    done: list[tuple[datetime, datetime, int]] = []  # dosing, its earliest integration, count
    for d in sorted(set(dosings)):
        earliest = next((i for i in integrations if i - d >= max(low, dose_len)), None)
        if earliest is None or earliest - d > high:
            continue
        before = 0
        for pd, talk, count in done:
            if pd.date() >= d.date() or d - pd < spacing:
                break
            if talk + talk_len <= d:
                before = max(before, count)
        done.append((d, earliest, before + 1))
    return max((count for _, _, count in done), default=0)


def precheck(cohort: Cohort, grid: _Grid | None = None) -> list[Problem]:
    """Each rule family counted on its own; an empty list does not prove feasibility."""
    problems: list[Problem] = []
    grid = grid or _Grid(cohort)
    days = f"{cohort.days} days"
    for kind in Kind:
        if not grid.rooms[kind]:
            problems.append(Problem("rooms", f"rooms: no {ROOM_FOR[kind]} room"))
    seen: dict[tuple[str, str, int], int] = {}
    fits: dict[tuple, int] = {}
    short: dict[tuple[str, str], list[str]] = defaultdict(list)  # (rule, words) -> patients

    def most(dosings: list[datetime], integrations: list[datetime]) -> int:
        key = (tuple(dosings), tuple(integrations))
        if key not in fits:
            fits[key] = _fits(cohort, dosings, integrations)
        return fits[key]

    for patient in cohort.patients:
        key = (patient.route, patient.modality, patient.dosings)
        if key not in seen:
            bare = most(grid.starts[Kind.DOSING], grid.starts[Kind.INTEGRATION])
            staffed_d = [s for s, _ in grid.options(patient, Kind.DOSING)]
            staffed_i = [s for s, _ in grid.options(patient, Kind.INTEGRATION)]
            seen[key] = bare
            if bare >= patient.dosings:
                if most(staffed_d, grid.starts[Kind.INTEGRATION]) < patient.dosings:
                    seen[key] = -1
                elif most(staffed_d, staffed_i) < patient.dosings:
                    seen[key] = -2
        fit = seen[key]
        rules = cohort.series_rules
        window = f"{rules.integration_min_hours}-{rules.integration_max_hours} h"
        if 0 <= fit < patient.dosings:
            rule = "integration_window"
            text = (
                f"dosing spacing and integration window: {patient.dosings} dosing sessions "
                f"needed, at most {fit} fit in {days} with {rules.min_spacing_hours} h spacing "
                f"and integration {window} after"
            )
        elif fit == -1:
            rule = "credentials"
            text = f"dosing staff: no {_needs(cohort, patient, Kind.DOSING)} works at enough "
            text += "dosing times"
        elif fit == -2:
            rule = "integration_window"
            text = f"integration window: no {_needs(cohort, patient, Kind.INTEGRATION)} works "
            text += f"{window} after enough dosing times"
        else:
            continue
        short[(rule, text)].append(patient.key)
    for (rule, text), keys in short.items():
        shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
        patients = "1 patient" if len(keys) == 1 else f"{len(keys)} patients"
        problems.append(Problem(rule, f"{text} for {patients} ({shown})"))
    problems += _capacity(cohort, grid)
    return problems


def _needs(cohort: Cohort, patient: Patient, kind: Kind) -> str:
    rules = cohort.credential_rules
    spec = patient.spec(kind)
    roles = " or ".join(sorted(rules.roles[kind]))
    credentials = [rules.label(c) for c in sorted(required_credentials(spec, rules=rules))]
    on_site = [rules.label(c) for c in sorted(required_credentials(spec, "on_site", rules))]
    text = roles + (" with " + " and ".join(credentials) if credentials else "")
    return text + (" (with a " + " and a ".join(on_site) + " on site)" if on_site else "")


def _capacity(cohort: Cohort, grid: _Grid) -> list[Problem]:
    problems = []
    for kind in Kind:
        needed = sum(p.dosings for p in cohort.patients)
        per_room = sum(_non_overlapping(grid.starts[kind], cohort.minutes(kind)).values())
        room_count = grid.rooms[kind]
        if room_count and needed > per_room * room_count:
            problems.append(
                Problem(
                    "rooms",
                    f"rooms: {needed} {kind.value} sessions needed; {room_count} "
                    f"{ROOM_FOR[kind]} room{'s' if room_count > 1 else ''} hold at most "
                    f"{per_room * room_count} in the horizon",
                )
            )
    # Qualified staff per requirement: the patients who need the same kind of clinician.
    groups: dict[tuple[Kind, tuple[int, ...]], list[Patient]] = defaultdict(list)
    for patient in cohort.patients:
        for kind in Kind:
            staff = sorted({s for _, ss in grid.options(patient, kind) for s in ss})
            groups[(kind, tuple(staff))].append(patient)
    for (kind, staff), patients in groups.items():
        needed = sum(p.dosings for p in patients)
        capacity = 0
        for index in staff:
            person = cohort.staff[index]
            starts = [
                s
                for s in grid.starts[kind]
                if person.works(s, s + timedelta(minutes=cohort.minutes(kind)))
            ]
            per_day = _non_overlapping(starts, cohort.minutes(kind))
            capacity += sum(min(n, person.max_sessions_per_day) for n in per_day.values())
        if needed > capacity:
            who = _needs(cohort, patients[0], kind)
            label = {"dosing": "dosing staff", "integration": "integration staff"}[kind.value]
            problems.append(
                Problem(
                    "staff",
                    f"{label}: {needed} {kind.value} sessions need a {who}; those on the "
                    f"roster can take at most {capacity} in the horizon",
                )
            )
    return problems


def _non_overlapping(starts: Sequence[datetime], minutes: int) -> dict:
    """Per day, how many sessions of this length one room or person can hold."""
    per_day: dict = defaultdict(int)
    free: dict = {}
    for start in sorted(starts):
        if free.get(start.date(), start) <= start:
            per_day[start.date()] += 1
            free[start.date()] = start + timedelta(minutes=minutes)
    return per_day


# ---------------------------------------------------------------------------------------------
# The model


@dataclass
class _Model:
    model: cp_model.CpModel
    # (patient, kind, start) -> bool; (patient, kind, start, staff) -> bool
    at: dict
    by: dict
    families: dict
    peaks: dict  # kind -> (peak variable, staff indices)
    states: list  # (variable, patient, moment): 1 between a dosing and its integration


def _build(
    cohort: Cohort, grid: _Grid, load_weight: int, preference_weight: int, assumptions: bool
) -> _Model:
    model = cp_model.CpModel()
    families = {name: model.new_bool_var(name) for name in FAMILIES} if assumptions else {}

    def add(family: str, constraint) -> None:
        if assumptions:
            constraint.only_enforce_if(families[family])

    rules = cohort.series_rules
    at: dict = {}
    by: dict = {}
    active: dict = defaultdict(list)  # (resource, minute) -> [bool]: sessions running then
    per_day: dict = defaultdict(list)  # (staff, day) -> [bool]
    load: dict = defaultdict(list)  # staff -> [bool]
    misses = []
    states = []
    points = sorted({_minutes(cohort, s) for kind in Kind for s in grid.starts[kind]})
    for p, patient in enumerate(cohort.patients):
        for kind in Kind:
            length = cohort.minutes(kind)
            options = grid.options(patient, kind)
            for start, staff in options:
                x = model.new_bool_var(f"{kind.value}_{p}_{start:%j%H%M}")
                at[(p, kind, start)] = x
                chosen = []
                for s in staff:
                    y = model.new_bool_var("")
                    by[(p, kind, start, s)] = y
                    chosen.append(y)
                    per_day[(s, start.date())].append(y)
                    load[s].append(y)
                model.add(sum(chosen) == x)
                begin = _minutes(cohort, start)
                for point in points[
                    bisect_left(points, begin) : bisect_left(points, begin + length)
                ]:
                    active[("patient", p, point)].append(x)
                    active[(ROOM_FOR[kind], point)].append(x)
                    for s, y in zip(staff, chosen, strict=True):
                        active[("staff", s, point)].append(y)
                if patient.preference and not patient.preference.honoured_by(start):
                    misses.append(x)
            model.add(sum(at[(p, kind, s)] for s, _ in options) == patient.dosings)
        dosings = sorted(s for s, _ in grid.options(patient, Kind.DOSING))
        integrations = sorted(s for s, _ in grid.options(patient, Kind.INTEGRATION))
        dose = {s: at[(p, Kind.DOSING, s)] for s in dosings}
        talk = {s: at[(p, Kind.INTEGRATION, s)] for s in integrations}
        # At most one dosing a day, and the minimum spacing between dosing starts.
        spacing = timedelta(hours=float(rules.min_spacing_hours))
        by_day = defaultdict(list)
        for s in dosings:
            by_day[s.date()].append(dose[s])
        for day_sessions in by_day.values():
            add("dosing_spacing", model.add(sum(day_sessions) <= 1))
        for s in dosings:
            near = [dose[t] for t in dosings if s <= t < s + spacing]
            if len(near) > 1:
                add("dosing_spacing", model.add(sum(near) <= 1))
        # Dosing and integration alternate: each integration follows its own dosing session.
        # (Not under an assumption: without it the counts above are not one series.)
        # ``between`` is 1 from a dosing start until its integration starts.
        between = 0
        for moment in sorted(set(dosings) | set(integrations)):
            state = model.new_int_var(0, patient.dosings, "")
            model.add(state == between + dose.get(moment, 0) - talk.get(moment, 0))
            add("integration_window", model.add(state <= 1))
            states.append((state, p, moment))
            between = state
        # Its integration inside the window after the latest dosing.
        low = timedelta(hours=float(rules.integration_min_hours))
        high = timedelta(hours=float(rules.integration_max_hours))
        for i in integrations:
            window = [dose[d] for d in dosings if low <= i - d <= high]
            too_near = [dose[d] for d in dosings if timedelta(0) <= i - d < low]
            add("integration_window", model.add(sum(window) >= 1).only_enforce_if(talk[i]))
            if too_near:
                add(
                    "integration_window",
                    model.add(sum(too_near) == 0).only_enforce_if(talk[i]),
                )
    for key, running in active.items():
        if len(running) < 2:
            continue
        if key[0] == "patient":
            model.add_at_most_one(running)
        elif key[0] == "staff":
            add("staff", model.add_at_most_one(running))
        else:
            capacity = sum(1 for r in cohort.rooms if r.kind is RoomKind(key[0]))
            if len(running) > capacity:
                add("rooms", model.add(sum(running) <= capacity))
    for (s, _day), sessions in per_day.items():
        limit = cohort.staff[s].max_sessions_per_day
        if len(sessions) > limit:
            add("staff", model.add(sum(sessions) <= limit))
    peaks = {}
    for kind in Kind:
        group = [
            s
            for s, person in enumerate(cohort.staff)
            if person.roles & cohort.credential_rules.roles[kind]
        ]
        if not group:
            continue
        peak = model.new_int_var(0, cohort.days * len(cohort.slot_times), f"peak_{kind.value}")
        for s in group:
            if load[s]:
                model.add(sum(load[s]) <= peak)
        # Sessions are shared out, so the busiest takes at least the average: a bound.
        total = sum(p.dosings for p in cohort.patients)
        model.add(peak * len(group) >= total)
        peaks[kind] = (peak, group)
    model.minimize(
        load_weight * sum(peak for peak, _ in peaks.values()) + preference_weight * sum(misses)
    )
    if assumptions:
        model.add_assumptions(list(families.values()))
    return _Model(model, at, by, families, peaks, states)


def _occurrences(cohort: Cohort, built: _Model, solver: cp_model.CpSolver) -> tuple:
    chosen = defaultdict(list)
    for (p, kind, start, s), var in built.by.items():
        if solver.value(var):
            chosen[p].append((start, kind, s))
    sessions = []
    for p, items in sorted(chosen.items()):
        patient = cohort.patients[p]
        counts = {kind: 0 for kind in Kind}
        for start, kind, s in sorted(items):
            counts[kind] += 1
            spec = patient.spec(kind)
            sessions.append(
                Occurrence(
                    kind, start, start + timedelta(minutes=cohort.minutes(kind)), patient.key,
                    counts[kind], patient.key, None, (cohort.staff[s].key,), spec.route,
                    spec.modality,
                )
            )  # fmt: skip
    return _with_rooms(cohort, sessions)


def _with_rooms(cohort: Cohort, sessions: list[Occurrence]) -> tuple[Occurrence, ...]:
    """Rooms by start order: the counts per moment never exceed the rooms, so a free room of
    the kind is always there."""
    placed = []
    free_at: dict[str, datetime] = {r.key: datetime.min for r in cohort.rooms}
    for o in sorted(sessions, key=lambda o: (o.start, o.patient)):
        for room in cohort.rooms:
            if room.kind is ROOM_FOR[o.kind] and free_at[room.key] <= o.start:
                free_at[room.key] = o.end
                placed.append(Occurrence(**{**o.__dict__, "room": room.key}))
                break
        else:
            placed.append(o)
    return tuple(placed)


def _greedy(cohort: Cohort, grid: _Grid, passes: int = 20) -> dict[tuple, int]:
    """A quick schedule to start the solver from: patients in turn, each session at the
    earliest free start (the patient's preferred half-day first) with the least-loaded free
    clinician. Patients who do not fit go first in the next pass ("squeaky wheel"); the best
    pass is kept, partial if need be, and the solver repairs it."""
    order = sorted(
        range(len(cohort.patients)),
        key=lambda p: (-cohort.patients[p].dosings,
                       len(grid.options(cohort.patients[p], Kind.INTEGRATION))),
    )  # fmt: skip
    best: tuple[int, dict] = (-1, {})
    for _ in range(passes):
        chosen, failed = _greedy_pass(cohort, grid, order)
        if len(chosen) > best[0]:
            best = (len(chosen), chosen)
        if not failed:
            break
        order = failed + [p for p in order if p not in failed]
    return best[1]


def _greedy_pass(cohort: Cohort, grid: _Grid, order: list[int]) -> tuple[dict, list[int]]:
    rules = cohort.series_rules
    low = timedelta(hours=float(rules.integration_min_hours))
    high = timedelta(hours=float(rules.integration_max_hours))
    spacing = timedelta(hours=float(rules.min_spacing_hours))
    capacity = {kind: grid.rooms[kind] for kind in Kind}
    in_room: dict = defaultdict(list)  # kind -> [(start, end)]
    busy: dict = defaultdict(list)  # staff -> [(start, end)]
    per_day: dict = defaultdict(int)
    load: dict = defaultdict(int)
    chosen: dict[tuple, int] = {}

    def overlapping(spans, start, end) -> int:
        return sum(1 for a, b in spans if a < end and start < b)

    def staff_for(kind, start, staff):
        end = start + timedelta(minutes=cohort.minutes(kind))
        if overlapping(in_room[kind], start, end) >= capacity[kind]:
            return None
        free = [
            s
            for s in staff
            if per_day[(s, start.date())] < cohort.staff[s].max_sessions_per_day
            and not overlapping(busy[s], start, end)
        ]
        return min(free, key=lambda s: (load[s], s)) if free else None

    def take(p, kind, start, s):
        end = start + timedelta(minutes=cohort.minutes(kind))
        in_room[kind].append((start, end))
        busy[s].append((start, end))
        per_day[(s, start.date())] += 1
        load[s] += 1
        chosen[(p, kind, start, s)] = 1

    def ordered(options, patient):
        if patient.preference is None:
            return options
        return sorted(
            options, key=lambda o: (o[0].date(), not patient.preference.honoured_by(o[0]), o[0])
        )

    failed = []
    for p in order:
        patient = cohort.patients[p]
        dosings = ordered(grid.options(patient, Kind.DOSING), patient)
        talks = ordered(grid.options(patient, Kind.INTEGRATION), patient)
        plan = []
        after, last = None, None
        for _ in range(patient.dosings):
            found = None
            for d, staff in dosings:
                if after and d < after or last and (d.date() == last.date() or d - last < spacing):
                    continue
                s = staff_for(Kind.DOSING, d, staff)
                if s is None:
                    continue
                dose_end = d + timedelta(minutes=cohort.dosing_minutes)
                for i, therapists in talks:
                    if i < dose_end or not low <= i - d <= high:
                        continue
                    t = staff_for(Kind.INTEGRATION, i, therapists)
                    if t is not None:
                        found = (d, s, i, t)
                        break
                if found:
                    break
            if not found:
                break
            d, s, i, t = found
            take(p, Kind.DOSING, d, s)
            take(p, Kind.INTEGRATION, i, t)
            plan.append(found)
            after, last = i + timedelta(minutes=cohort.integration_minutes), d
        if len(plan) < patient.dosings:
            failed.append(p)
    return chosen, failed


class _FirstSolution(cp_model.CpSolverSolutionCallback):
    def __init__(self):
        super().__init__()
        self.first: float | None = None
        self.progress: list[tuple[float, float]] = []

    def on_solution_callback(self) -> None:
        if self.first is None:
            self.first = self.wall_time
        self.progress.append((self.wall_time, self.objective_value))


def optimize(
    cohort: Cohort,
    time_limit: float = 10.0,
    workers: int = 0,
    load_weight: int = 1,
    preference_weight: int = 1,
    seed: int = 0,
) -> Result:
    """The best schedule found within the time limit; an infeasible cohort's ``problems``
    name the rule that cannot be met."""
    began = clock.monotonic()
    if not cohort.series_rules.integration_before_next_dosing:
        raise InvalidInput(
            "integration_window", "the optimizer needs each integration before the next dosing"
        )
    grid = _Grid(cohort)
    problems = precheck(cohort, grid)
    if problems:
        return Result("INFEASIBLE", (), None, None, None, clock.monotonic() - began, None,
                      tuple(problems))  # fmt: skip
    built = _build(cohort, grid, load_weight, preference_weight, assumptions=False)
    hint = _greedy(cohort, grid)
    for key, var in built.by.items():
        built.model.add_hint(var, hint.get(key, 0))
    hinted = {key[:3] for key in hint}
    for key, var in built.at.items():
        built.model.add_hint(var, int(key in hinted))
    for peak, group in built.peaks.values():
        built.model.add_hint(peak, max(sum(1 for k in hint if k[3] == s) for s in group))
    for state, p, moment in built.states:
        signed = [1 if k[1] is Kind.DOSING else -1 for k in hint if k[0] == p and k[2] <= moment]
        built.model.add_hint(state, sum(signed))
    build_seconds = clock.monotonic() - began
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # Symmetry detection and probing cost seconds in presolve on a cohort and bought nothing
    # in the benchmark; the greedy start matters more.
    solver.parameters.symmetry_level = 0
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.max_presolve_iterations = 1
    callback = _FirstSolution()
    status = solver.solve(built.model, callback)
    name = solver.status_name(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        objective, bound = solver.objective_value, solver.best_objective_bound
        gap = abs(objective - bound) / max(1.0, abs(objective))
        return Result(name, _occurrences(cohort, built, solver), objective, bound, gap,
                      clock.monotonic() - began, callback.first, (), build_seconds,
                      tuple(callback.progress))  # fmt: skip
    if status == cp_model.INFEASIBLE:
        problems = explain(cohort, grid, time_limit, workers)
    else:
        problems = [Problem("unknown", "no schedule found within the time limit")]
    return Result(name, (), None, None, None, clock.monotonic() - began, None, tuple(problems),
                  build_seconds)  # fmt: skip


def explain(cohort: Cohort, grid: _Grid, time_limit: float, workers: int = 0) -> list[Problem]:
    """The rule families in the solver's infeasible core, each in words."""
    built = _build(cohort, grid, 0, 0, assumptions=True)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 1  # the core needs a single worker
    status = solver.solve(built.model)
    if status != cp_model.INFEASIBLE:
        return [Problem("unknown", "the rules together cannot be met; no single family found")]
    core = set(solver.sufficient_assumptions_for_infeasibility())
    blamed = [name for name in FAMILIES if built.families[name].index in core]
    if not blamed:
        return [
            Problem(
                "integration_window",
                "integration window: the dosing and integration sessions cannot alternate "
                "with the starts available",
            )
        ]
    if len(blamed) > 1:
        # Which family alone, relaxed, lets the rest be met: that one is the short one.
        alone = []
        for name in blamed:
            solver.parameters.max_time_in_seconds = max(1.0, time_limit / len(blamed))
            built.model.clear_assumptions()
            built.model.add_assumptions([v for n, v in built.families.items() if n != name])
            if solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                alone.append(name)
        blamed = alone or blamed
    names = ", ".join(name.replace("_", " ") for name in blamed)
    others = f" (relaxing any one of {names} lets the rest be met)"
    return [
        Problem(name, f"{FAMILIES[name]}: {SHORT[name]}" + (others if len(blamed) > 1 else ""))
        for name in blamed
    ]
