"""Check a cohort's schedule against every hard rule, independently of how it was built.

    violations = validate(cohort, occurrences)   # [] when the schedule keeps every rule

It reads the schedule as plain sessions with times, rooms and staff and checks each rule
directly (the series rules of ``series``, the credential rules of ``rules``), so the tests can
judge the optimizer by something other than its own model. Pure Python.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .cohort import ROOM_FOR, Cohort
from .rules import Kind, Presence, required_credentials
from .series import Occurrence, conflicts, series_problems


@dataclass(frozen=True)
class Violation:
    """A broken hard rule. ``rule`` is its family: demand, opening_hours, dosing_spacing,
    integration_window, patient, rooms, staff, credentials or on_site."""

    rule: str
    message: str


def validate(cohort: Cohort, occurrences: Iterable[Occurrence]) -> list[Violation]:
    occurrences = list(occurrences)
    found: list[Violation] = []
    patients = {p.key: p for p in cohort.patients}
    rooms = {r.key: r for r in cohort.rooms}
    staff = {s.key: s for s in cohort.staff}
    first = datetime.combine(cohort.start, datetime.min.time())
    last = first + timedelta(days=cohort.days)
    by_patient: dict[str, list[Occurrence]] = defaultdict(list)
    for o in occurrences:
        by_patient[o.patient].append(o)
        label = f"{o.patient} {Kind(o.kind).value} {o.index}"
        patient = patients.get(o.patient)
        if patient is None:
            found.append(Violation("demand", f"{label}: not a patient of the cohort"))
            continue
        if not first <= o.start < last:
            found.append(Violation("opening_hours", f"{label}: outside the horizon"))
        spec = patient.spec(Kind(o.kind))
        if (o.route, o.modality) != (spec.route, spec.modality):
            found.append(Violation("demand", f"{label}: not the patient's route or modality"))
        room = rooms.get(o.room or "")
        if room is None or room.kind is not ROOM_FOR[Kind(o.kind)]:
            found.append(Violation("rooms", f"{label}: needs a {ROOM_FOR[Kind(o.kind)]} room"))
        if len(o.staff) != 1 or o.staff[0] not in staff:
            found.append(Violation("staff", f"{label}: needs one clinician of the roster"))
        else:
            person = staff[o.staff[0]]
            if not person.roles & cohort.credential_rules.roles[Kind(o.kind)]:
                found.append(Violation("staff", f"{label}: {person.key} has the wrong role"))
            if not person.works(o.start, o.end):
                found.append(Violation("staff", f"{label}: {person.key} is not working then"))
            needed = required_credentials(spec, Presence.ASSIGNED, cohort.credential_rules)
            missing = needed - person.holds(o.start.date())
            if missing:
                found.append(
                    Violation("credentials", f"{label}: {person.key} lacks {sorted(missing)}")
                )
        on_site = required_credentials(spec, Presence.ON_SITE, cohort.credential_rules)
        for credential in sorted(on_site):
            if not any(
                credential in s.holds(o.start.date()) and s.works(o.start, o.end)
                for s in cohort.staff
            ):
                found.append(Violation("on_site", f"{label}: no {credential} on site"))
    for key, patient in patients.items():
        mine = by_patient.get(key, [])
        dosings = sum(1 for o in mine if o.kind is Kind.DOSING)
        if dosings != patient.dosings:
            found.append(
                Violation("demand", f"{key}: {dosings} dosing sessions, needs {patient.dosings}")
            )
        for problem in series_problems(mine, cohort.opening, cohort.series_rules):
            found.append(Violation(problem.field, f"{key}: {problem.message}"))
    for position, o in enumerate(occurrences):
        for clash in conflicts(occurrences[position + 1 :], [o]):
            if clash.resource == "room":
                found.append(Violation("rooms", f"room {clash.key} is double-booked"))
            elif clash.resource == "staff":
                found.append(Violation("staff", f"{clash.key} is double-booked"))
    per_day = Counter((s, o.start.date()) for o in occurrences for s in o.staff)
    for (key, day), count in sorted(per_day.items()):
        if key in staff and count > staff[key].max_sessions_per_day:
            found.append(Violation("staff", f"{key} has {count} sessions on {day}"))
    return found
