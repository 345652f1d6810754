"""A retreat cohort to schedule: patients, rooms, staff and the clinic's hours.

The optimizer (``optimizer``) builds a schedule for it and the validator (``validate``)
checks one; both read this description and nothing else. Times are the clinic's local
wall-clock time. Pure Python.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from kapstone.clinical.protocols import Route
from kapstone.errors import InvalidInput, InvalidInputs

from .rules import Credential, Kind, RuleSet, SessionSpec, current, rule_set
from .series import OpeningHours, SeriesRules, default_rules


class RoomKind(StrEnum):
    DOSING = "dosing"
    THERAPY = "therapy"


ROOM_FOR = {Kind.DOSING: RoomKind.DOSING, Kind.INTEGRATION: RoomKind.THERAPY}


class Preference(StrEnum):
    MORNING = "morning"  # starts before noon
    AFTERNOON = "afternoon"  # starts at noon or later

    def honoured_by(self, start: datetime) -> bool:
        return (start.time() < time(12)) == (self is Preference.MORNING)


@dataclass(frozen=True)
class Patient:
    key: str  # an opaque key, never a name
    dosings: int
    route: str
    modality: str
    preference: Preference | None = None

    def spec(self, kind: Kind) -> SessionSpec:
        if kind is Kind.DOSING:
            return SessionSpec(Kind.DOSING, route=self.route)
        return SessionSpec(Kind.INTEGRATION, modality=self.modality)


@dataclass(frozen=True)
class Room:
    key: str
    kind: RoomKind


@dataclass(frozen=True)
class Staff:
    key: str
    roles: frozenset[str]
    credentials: tuple[Credential, ...]
    hours: Mapping[int, tuple[time, time]]  # weekday (0 is Monday) to start and end of work
    max_sessions_per_day: int

    def holds(self, day: date) -> frozenset[str]:
        """Current credentials and roles (a prescriber on site is a role)."""
        return current(self.credentials, day) | self.roles

    def works(self, start: datetime, end: datetime) -> bool:
        hours = self.hours.get(start.weekday())
        if hours is None:
            return False
        day = start.date()
        return datetime.combine(day, hours[0]) <= start < end <= datetime.combine(day, hours[1])


@dataclass(frozen=True)
class Cohort:
    start: date
    days: int
    slot_times: tuple[time, ...]  # session start times offered each day (dosing)
    opening: OpeningHours
    patients: tuple[Patient, ...]
    rooms: tuple[Room, ...]
    staff: tuple[Staff, ...]
    dosing_minutes: int = 120
    integration_minutes: int = 60
    integration_slot_times: tuple[time, ...] | None = None  # None: the same as slot_times
    series_rules: SeriesRules = field(default_factory=default_rules)
    credential_rules: RuleSet = field(default_factory=rule_set)

    def __post_init__(self):
        problems = []
        if self.days < 1:
            problems.append(InvalidInput("days", "must be at least 1"))
        if not self.slot_times or self.integration_slot_times == ():
            problems.append(InvalidInput("slot_times", "must offer at least one start a day"))
        if self.dosing_minutes < 1 or self.integration_minutes < 1:
            problems.append(InvalidInput("minutes", "sessions must last at least a minute"))
        keys = [p.key for p in self.patients]
        if len(set(keys)) != len(keys):
            problems.append(InvalidInput("patients", "each patient once"))
        routes = {route.value for route in Route}
        for patient in self.patients:
            if patient.route not in routes:
                problems.append(InvalidInput("route", f"must be one of {', '.join(routes)}"))
            if patient.dosings < 1:
                problems.append(InvalidInput("dosings", "each patient needs at least one"))
        staff_keys = [s.key for s in self.staff]
        room_keys = [r.key for r in self.rooms]
        if len(set(staff_keys)) != len(staff_keys) or len(set(room_keys)) != len(room_keys):
            problems.append(InvalidInput("staff", "each member of staff and room once"))
        if problems:
            raise InvalidInputs(problems)

    def minutes(self, kind: Kind) -> int:
        return self.dosing_minutes if kind is Kind.DOSING else self.integration_minutes

    def day(self, number: int) -> date:
        return self.start + timedelta(days=number)

    def starts(self, kind: Kind) -> list[datetime]:
        """Every start the horizon offers for this kind of session inside opening hours."""
        length = timedelta(minutes=self.minutes(kind))
        slots = self.slot_times
        if kind is Kind.INTEGRATION and self.integration_slot_times is not None:
            slots = self.integration_slot_times
        return [
            datetime.combine(self.day(number), slot)
            for number in range(self.days)
            for slot in sorted(slots)
            if self.opening.contains(
                datetime.combine(self.day(number), slot),
                datetime.combine(self.day(number), slot) + length,
            )
        ]
