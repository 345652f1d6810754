"""A patient's series of sessions, from the signed plan's parameters, and edits to it.

    plan = SeriesPlan(series_id="s1", patient="p1", program="standard",
                      sessions_per_week=Decimal(1), count=6, start=date(2026, 3, 2),
                      weekdays=(0,), dosing_time=time(9), integration_time=time(10))
    series = generate(plan, opening)                        # dosing, integration, dosing, ...
    series = move_occurrence(series, "s1-dosing-2", new_start, opening)   # one occurrence
    series = shift_from(series, "s1-dosing-2", timedelta(days=1), opening)  # it and all after
    conflicts(existing, proposed)                           # double-booked patient, room, staff

Each dosing session is followed by its integration session inside the integration window
(hours from the dosing's start to the integration's start) and before the next dosing;
dosing sessions are at least the minimum spacing apart, at most one a day; every session is
inside the clinic's opening hours. The window and spacing defaults (``data/defaults.toml``)
have no source in clinical-facts.md: the clinic sets them. Times are the clinic's local
wall-clock time. Pure Python.
"""

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from itertools import pairwise

from kapstone.clinical import protocols
from kapstone.errors import InvalidInput, InvalidInputs

from .rules import Kind

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Occurrence:
    """One session of a series. ``index`` counts dosing sessions from 1; an integration
    session shares the index of the dosing session it follows."""

    kind: Kind
    start: datetime
    end: datetime
    series_id: str
    index: int
    patient: str = ""  # an opaque key, never a name
    room: str | None = None
    staff: tuple[str, ...] = ()
    route: str | None = None
    modality: str | None = None

    @property
    def uid(self) -> str:
        return f"{self.series_id}-{Kind(self.kind).value}-{self.index}"

    def overlaps(self, other: "Occurrence") -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class SeriesRules:
    integration_min_hours: Decimal
    integration_max_hours: Decimal
    integration_before_next_dosing: bool
    min_spacing_hours: Decimal
    source: str

    def __post_init__(self):
        if not 0 <= self.integration_min_hours <= self.integration_max_hours:
            raise InvalidInput("integration_window", "must run from a minimum to a maximum")
        if self.min_spacing_hours < 0:
            raise InvalidInput("min_spacing_hours", "must not be negative")


@cache
def _shipped() -> dict:
    text = resources.files("kapstone.scheduling").joinpath("data/defaults.toml").read_text()
    return tomllib.loads(text)


def default_rules(**overrides) -> SeriesRules:
    """The shipped defaults with a clinic's changes (keyword names as in SeriesRules)."""
    raw = _shipped()
    window, spacing = raw["integration_window"], raw["dosing_spacing"]
    values = {
        "integration_min_hours": Decimal(window["min_hours"]),
        "integration_max_hours": Decimal(window["max_hours"]),
        "integration_before_next_dosing": bool(window["before_next_dosing"]),
        "min_spacing_hours": Decimal(spacing["min_hours"]),
        "source": f"window: {window['source']}; spacing: {spacing['source']}",
    }
    values.update(overrides)
    return SeriesRules(**values)


# A clinic's "scheduling" settings have the shape of data/defaults.toml: section, key, and the
# SeriesRules field each key sets.
CLINIC_KEYS: dict[str, dict[str, str]] = {
    "integration_window": {
        "min_hours": "integration_min_hours",
        "max_hours": "integration_max_hours",
        "before_next_dosing": "integration_before_next_dosing",
    },
    "dosing_spacing": {"min_hours": "min_spacing_hours"},
}
# Catches hours typed as minutes (a window of 1440 hours); not a clinical limit.
MOST_HOURS = Decimal(24 * 28)


def _clinic_hours(name: str, value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(name, "must be a number of hours")
    hours = Decimal(str(value))
    if not hours.is_finite() or not 0 <= hours <= MOST_HOURS:
        raise InvalidInput(name, f"must be a number of hours from 0 to {MOST_HOURS}")
    return hours


def clinic_rules(settings: Mapping | None) -> SeriesRules:
    """The shipped defaults with the clinic's "scheduling" settings applied. Unknown sections
    and keys and values of the wrong kind are refused, naming the key (never the value), so a
    typo cannot silently leave the default in force."""
    changed: dict = {}
    problems: list[InvalidInput] = []
    changed_sections: list[str] = []
    for section, entries in (settings or {}).items():
        keys = CLINIC_KEYS.get(section)
        if keys is None:
            problems.append(InvalidInput(f"scheduling.{section}", "is not a scheduling setting"))
            continue
        if not isinstance(entries, Mapping):
            problems.append(InvalidInput(f"scheduling.{section}", "must be a table of settings"))
            continue
        changed_sections.append(section)
        for key, value in entries.items():
            name = f"scheduling.{section}.{key}"
            if key == "source":
                if not isinstance(value, str) or not value.strip():
                    problems.append(InvalidInput(name, "must say where the values come from"))
                continue
            if key not in keys:
                problems.append(InvalidInput(name, "is not a scheduling setting"))
            elif key == "before_next_dosing":
                if isinstance(value, bool):
                    changed[keys[key]] = value
                else:
                    problems.append(InvalidInput(name, "must be true or false"))
            else:
                try:
                    changed[keys[key]] = _clinic_hours(name, value)
                except InvalidInput as error:
                    problems.append(error)
    if problems:
        raise InvalidInputs(problems)
    if changed_sections:
        raw = _shipped()
        sources = {
            section: str(
                (settings or {})[section].get("source")
                or f"the clinic's own setting (shipped: {raw[section]['source']})"
            )
            for section in ("integration_window", "dosing_spacing")
            if section in changed_sections
        }
        window = sources.get("integration_window", raw["integration_window"]["source"])
        spacing = sources.get("dosing_spacing", raw["dosing_spacing"]["source"])
        changed["source"] = f"window: {window}; spacing: {spacing}"
    try:
        return default_rules(**changed)
    except InvalidInput as error:
        # The window's ends are only wrong together: name the minimum the clinic set.
        field = "scheduling.integration_window.min_hours"
        raise InvalidInputs([InvalidInput(field, error.message)]) from None


@dataclass(frozen=True)
class OpeningHours:
    """Weekday (0 is Monday) to opening and closing time; a day not listed is closed."""

    days: Mapping[int, tuple[time, time]]

    def contains(self, start: datetime, end: datetime) -> bool:
        hours = self.days.get(start.weekday())
        if hours is None:
            return False
        opens, closes = hours
        day = start.date()
        return datetime.combine(day, opens) <= start < end <= datetime.combine(day, closes)

    @classmethod
    def weekdays(cls, opens: time, closes: time, days: Iterable[int] = range(5)):
        return cls({day: (opens, closes) for day in days})


def staff_hours_problems(
    existing: Iterable[tuple[time, time]], weekday, start: time | None, end: time | None
) -> list[InvalidInput]:
    """What is wrong with new hours for one person at one site, given their hours already set
    there on that weekday. Touching hours (one ends as the next starts) are fine; overlapping
    ones would count the same stretch twice."""
    problems = []
    if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
        problems.append(InvalidInput("weekday", "must be a weekday from Monday to Sunday"))
    if start is None:
        problems.append(InvalidInput("start", "is required"))
    if end is None:
        problems.append(InvalidInput("end", "is required"))
    if start is None or end is None:
        return problems
    if not start < end:
        problems.append(InvalidInput("end", "must be after the start"))
    elif any(start < other_end and other_start < end for other_start, other_end in existing):
        problems.append(
            InvalidInput("start", "overlaps hours already set for them at this site that day")
        )
    return problems


@dataclass(frozen=True)
class SeriesPlan:
    series_id: str
    program: str
    sessions_per_week: Decimal
    start: date
    weekdays: tuple[int, ...]  # preferred dosing weekdays, 0 is Monday
    dosing_time: time
    integration_time: time
    dosing_minutes: int = 120
    integration_minutes: int = 60
    count: int | None = None
    weeks: int | None = None
    patient: str = ""
    route: str | None = None
    modality: str | None = None


def _hours(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds())) / 3600


def _dosing_days(plan: SeriesPlan, count: int) -> list[date]:
    per_week = plan.sessions_per_week
    if per_week >= 1:
        if per_week != per_week.to_integral_value():
            raise InvalidInput("sessions_per_week", "must be a whole number, or 1 in n weeks")
        every, per_cycle = 1, int(per_week)
    else:
        every = 1 / per_week
        if every != every.to_integral_value():
            raise InvalidInput("sessions_per_week", "must be a whole number, or 1 in n weeks")
        every, per_cycle = int(every), 1
    weekdays = sorted(set(plan.weekdays))
    if len(weekdays) < per_cycle:
        raise InvalidInput("weekdays", "must name a weekday for each dosing session of a week")
    chosen = weekdays[:per_cycle]
    monday = plan.start - timedelta(days=plan.start.weekday())
    days: list[date] = []
    week = 0
    while len(days) < count:
        for weekday in chosen:
            day = monday + timedelta(weeks=week, days=weekday)
            if day >= plan.start and len(days) < count:
                days.append(day)
        week += every
    return days


def generate(
    plan: SeriesPlan,
    opening: OpeningHours,
    rules: SeriesRules | None = None,
    library: protocols.Library | None = None,
) -> tuple[Occurrence, ...]:
    """The whole series: each dosing session on the preferred weekdays at the dosing time,
    each followed by its integration session at the first integration time inside the window.
    InvalidInput names what cannot be met."""
    rules = rules or default_rules()
    program = (library or protocols.library()).program(plan.program)
    if plan.count is None and plan.weeks is None:
        raise InvalidInput("count", "give the number of dosing sessions or of weeks")
    count = plan.count if plan.count is not None else math.ceil(plan.sessions_per_week * plan.weeks)
    program.check_frequency(plan.sessions_per_week, plan.weeks)
    if count < 1:
        raise InvalidInput("count", "must be at least 1")
    for weekday in plan.weekdays:
        if weekday not in opening.days:
            raise InvalidInput("weekdays", f"the clinic is closed on {WEEKDAYS[weekday]}s")
    dose_length = timedelta(minutes=plan.dosing_minutes)
    starts = [datetime.combine(day, plan.dosing_time) for day in _dosing_days(plan, count)]
    for start in starts:
        if not opening.contains(start, start + dose_length):
            raise InvalidInput("dosing_time", "the dosing session must fit the opening hours")
    for before, after in pairwise(starts):
        if _hours(after - before) < rules.min_spacing_hours:
            raise InvalidInput(
                "weekdays",
                f"dosing sessions must be at least {rules.min_spacing_hours} hours apart",
            )
    occurrences = []
    for number, start in enumerate(starts, 1):
        dosing = Occurrence(
            Kind.DOSING, start, start + dose_length, plan.series_id, number, plan.patient,
            route=plan.route,
        )  # fmt: skip
        following = starts[number] if number < len(starts) else None
        occurrences += [dosing, _integration(plan, dosing, following, opening, rules)]
    problems = series_problems(occurrences, opening, rules)
    if problems:
        raise InvalidInputs(problems)
    return tuple(occurrences)


def _integration(
    plan: SeriesPlan,
    dosing: Occurrence,
    following: datetime | None,
    opening: OpeningHours,
    rules: SeriesRules,
) -> Occurrence:
    length = timedelta(minutes=plan.integration_minutes)
    last_day = (dosing.start + timedelta(hours=float(rules.integration_max_hours))).date()
    day = dosing.start.date()
    while day <= last_day:
        start = datetime.combine(day, plan.integration_time)
        candidate = Occurrence(
            Kind.INTEGRATION, start, start + length, plan.series_id, dosing.index,
            plan.patient, modality=plan.modality,
        )  # fmt: skip
        if not _integration_problems(dosing, candidate, following, opening, rules):
            return candidate
        day += timedelta(days=1)
    raise InvalidInput(
        "integration_window",
        f"no open time at the integration time from {rules.integration_min_hours} to "
        f"{rules.integration_max_hours} hours after dosing session {dosing.index}"
        + (" and before the next one" if rules.integration_before_next_dosing else ""),
    )


def _integration_problems(
    dosing: Occurrence,
    integration: Occurrence,
    following: datetime | None,
    opening: OpeningHours,
    rules: SeriesRules,
) -> list[str]:
    problems = []
    gap = _hours(integration.start - dosing.start)
    if not rules.integration_min_hours <= gap <= rules.integration_max_hours:
        problems.append(
            f"integration {dosing.index} must start {rules.integration_min_hours} to "
            f"{rules.integration_max_hours} hours after its dosing session"
        )
    if integration.start < dosing.end:
        problems.append(f"integration {dosing.index} must start after its dosing session ends")
    if rules.integration_before_next_dosing and following and integration.end > following:
        problems.append(f"integration {dosing.index} must end before the next dosing session")
    if not opening.contains(integration.start, integration.end):
        problems.append(f"integration {dosing.index} must fit the opening hours")
    return problems


def series_problems(
    occurrences: Iterable[Occurrence], opening: OpeningHours, rules: SeriesRules
) -> list[InvalidInput]:
    """Every rule one patient's series breaks, each naming its field; empty when it keeps
    them all."""
    occurrences = list(occurrences)
    problems: list[InvalidInput] = []
    dosings = sorted((o for o in occurrences if o.kind is Kind.DOSING), key=lambda o: o.start)
    integrations = {o.index: o for o in occurrences if o.kind is Kind.INTEGRATION}
    for occurrence in occurrences:
        if not opening.contains(occurrence.start, occurrence.end):
            problems.append(
                InvalidInput(
                    "opening_hours",
                    f"{Kind(occurrence.kind).label.lower()} {occurrence.index} must fit the "
                    "opening hours",
                )
            )
    for before, after in pairwise(dosings):
        if before.start.date() == after.start.date():
            problems.append(InvalidInput("dosing_spacing", "at most one dosing session a day"))
        elif _hours(after.start - before.start) < rules.min_spacing_hours:
            problems.append(
                InvalidInput(
                    "dosing_spacing",
                    f"dosing sessions {before.index} and {after.index} must be at least "
                    f"{rules.min_spacing_hours} hours apart",
                )
            )
    for position, dosing in enumerate(dosings):
        integration = integrations.pop(dosing.index, None)
        if integration is None:
            problems.append(
                InvalidInput(
                    "integration_window",
                    f"dosing session {dosing.index} needs its integration session",
                )
            )
            continue
        following = dosings[position + 1].start if position + 1 < len(dosings) else None
        for text in _integration_problems(dosing, integration, following, opening, rules):
            if "opening hours" not in text:
                problems.append(InvalidInput("integration_window", text))
    for index in sorted(integrations):
        problems.append(
            InvalidInput("integration_window", f"integration {index} has no dosing session")
        )
    patient_clashes = [
        (a, b) for i, a in enumerate(occurrences) for b in occurrences[i + 1 :] if a.overlaps(b)
    ]
    if patient_clashes:
        problems.append(InvalidInput("patient", "a patient's sessions must not overlap"))
    return problems


def _replace_in(
    series: Sequence[Occurrence], changed: Mapping[str, Occurrence]
) -> tuple[Occurrence, ...]:
    return tuple(sorted((changed.get(o.uid, o) for o in series), key=lambda o: o.start))


def _find(series: Sequence[Occurrence], uid: str) -> Occurrence:
    for occurrence in series:
        if occurrence.uid == uid:
            return occurrence
    raise InvalidInput("occurrence", "is not part of this series")


def move_occurrence(
    series: Sequence[Occurrence],
    uid: str,
    new_start: datetime,
    opening: OpeningHours,
    rules: SeriesRules | None = None,
) -> tuple[Occurrence, ...]:
    """This occurrence only, to a new start (its length kept); the rest stays. InvalidInputs
    with every rule the moved series would break."""
    target = _find(series, uid)
    moved = replace(target, start=new_start, end=new_start + (target.end - target.start))
    return _checked(_replace_in(series, {uid: moved}), opening, rules)


def shift_from(
    series: Sequence[Occurrence],
    uid: str,
    delta: timedelta,
    opening: OpeningHours,
    rules: SeriesRules | None = None,
) -> tuple[Occurrence, ...]:
    """This occurrence and every one from it onward, by the same time; earlier ones stay."""
    target = _find(series, uid)
    changed = {
        o.uid: replace(o, start=o.start + delta, end=o.end + delta)
        for o in series
        if o.start >= target.start
    }
    return _checked(_replace_in(series, changed), opening, rules)


def _checked(
    series: tuple[Occurrence, ...], opening: OpeningHours, rules: SeriesRules | None
) -> tuple[Occurrence, ...]:
    problems = series_problems(series, opening, rules or default_rules())
    if problems:
        raise InvalidInputs(problems)
    return series


@dataclass(frozen=True)
class Conflict:
    proposed: Occurrence
    existing: Occurrence
    resource: str  # "patient", "room" or "staff"
    key: str  # the room or staff key (for a patient: the patient's opaque key)


def conflicts(
    existing: Iterable[Occurrence], proposed: Iterable[Occurrence]
) -> tuple[Conflict, ...]:
    """Each proposed occurrence that overlaps an existing one sharing a patient, a room or a
    staff member. An existing occurrence with the same uid is the one being replaced."""
    existing = list(existing)
    found = []
    for new in proposed:
        for old in existing:
            if old.uid == new.uid or not new.overlaps(old):
                continue
            if new.patient and new.patient == old.patient:
                found.append(Conflict(new, old, "patient", new.patient))
            if new.room and new.room == old.room:
                found.append(Conflict(new, old, "room", new.room))
            for person in sorted(set(new.staff) & set(old.staff)):
                found.append(Conflict(new, old, "staff", person))
    return tuple(found)


def refuse_conflicts(existing: Iterable[Occurrence], proposed: Iterable[Occurrence]) -> None:
    """InvalidInputs naming each double booking (by resource, never by patient)."""
    found = conflicts(existing, proposed)
    if found:
        raise InvalidInputs(
            [
                InvalidInput(c.resource, f"{Kind(c.proposed.kind).label.lower()} "
                             f"{c.proposed.index} overlaps another booking")
                for c in found
            ]
        )  # fmt: skip
