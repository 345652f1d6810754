"""When a dosing session's observations fall due: vital signs every few minutes, and a CADSS at
set times after the dose starts.

The intervals and times are reviewed data in ``data/schedule.toml``, each with its source or a
plain statement that it has none. A clinic's changes come from its settings (section
"monitoring", key "schedule") and are checked here, so a bad setting is refused by name rather
than silently turning the board's warnings off. Pure Python.
"""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

from kapstone.errors import InvalidInput

# The keys of the clinic's "monitoring" settings; thresholds are read by
# kapstone.monitoring.vitals.thresholds.
MONITORING_KEYS = ("schedule", "thresholds", "pre_dose")
WHOLE_MINUTES = (
    "vitals_during_dose_minutes",
    "vitals_after_dose_minutes",
    "cadss_window_minutes",
)
SETTINGS = (*WHOLE_MINUTES, "cadss_minutes")
CLINIC = "clinic setting"


@dataclass(frozen=True)
class Schedule:
    vitals_during_dose_minutes: int
    vitals_after_dose_minutes: int
    cadss_minutes: tuple[int, ...]
    cadss_window_minutes: int
    vitals_source: str
    cadss_source: str


class CadssState(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"


@dataclass(frozen=True)
class Rating:
    """A CADSS recorded for the patient: when it was answered and its total (None when items
    were missing)."""

    answered_at: datetime
    total: int | None


@dataclass(frozen=True)
class CadssTime:
    minutes: int
    at: datetime
    state: CadssState
    rating: Rating | None = None

    @property
    def wanted(self) -> bool:
        """Due or overdue: the nurse should rate now."""
        return self.state in (CadssState.DUE, CadssState.OVERDUE)


@cache
def _shipped() -> dict[str, Any]:
    text = resources.files("kapstone.monitoring").joinpath("data/schedule.toml").read_text()
    data = tomllib.loads(text)
    return {
        "vitals_during_dose_minutes": data["vitals"]["during_dose_minutes"],
        "vitals_after_dose_minutes": data["vitals"]["after_dose_minutes"],
        "cadss_minutes": data["cadss"]["minutes"],
        "cadss_window_minutes": data["cadss"]["window_minutes"],
        "vitals_source": data["vitals"]["source"],
        "cadss_source": data["cadss"]["source"],
    }


def _whole_minutes(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"schedule.{key}", "must be a whole number of minutes above 0")
    return value


def _cadss_minutes(value: object) -> tuple[int, ...]:
    key = "cadss_minutes"
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"schedule.{key}", "must be a list of minutes after the dose starts")
    times = tuple(_whole_minutes(key, v) for v in value)
    if any(later <= earlier for earlier, later in pairwise(times)):
        raise InvalidInput(f"schedule.{key}", "must be in increasing order, each time once")
    return times


def schedule(monitoring: Mapping[str, Any] | None = None) -> Schedule:
    """The shipped schedule with a clinic's changes. `monitoring` is the clinic's whole
    "monitoring" settings section; only its "schedule" part is read here."""
    monitoring = dict(monitoring or {})
    for key in monitoring:
        if key not in MONITORING_KEYS:
            raise InvalidInput(f"monitoring.{key}", "is not a monitoring setting")
    changes = monitoring.get("schedule") or {}
    if not isinstance(changes, Mapping):
        raise InvalidInput("monitoring.schedule", "must be a table of settings")
    for key in changes:
        if key not in SETTINGS:
            raise InvalidInput(f"schedule.{key}", "is not a monitoring schedule setting")
    merged = {**_shipped(), **changes}
    if any(key.startswith("vitals_") for key in changes):
        merged["vitals_source"] = CLINIC
    if any(key.startswith("cadss_") for key in changes):
        merged["cadss_source"] = CLINIC
    return Schedule(
        **{key: _whole_minutes(key, merged[key]) for key in WHOLE_MINUTES},
        cadss_minutes=_cadss_minutes(merged["cadss_minutes"]),
        vitals_source=merged["vitals_source"],
        cadss_source=merged["cadss_source"],
    )


def _aware(field: str, when: datetime) -> None:
    if when.tzinfo is None:
        raise InvalidInput(field, "must carry a time zone")


def vitals_interval(plan: Schedule, *, now: datetime, dose_stopped_at: datetime | None) -> int:
    """Minutes between readings now: the shorter interval while the dose is still running."""
    _aware("now", now)
    if dose_stopped_at is not None:
        _aware("dose_stopped_at", dose_stopped_at)
        if now < dose_stopped_at:
            return plan.vitals_during_dose_minutes
    return plan.vitals_after_dose_minutes


def cadss_times(
    plan: Schedule,
    *,
    dose_started_at: datetime,
    now: datetime,
    ratings: Iterable[Rating],
) -> list[CadssTime]:
    """Each CADSS time of the session with its state.

    A rating counts for a time when it was answered from `cadss_window_minutes` before it
    until the same margin before the next time (so a late rating still counts for the time it
    was late for); ratings before the dose started count for none. A time without a rating is
    due from its minute and overdue once the window has passed (at exactly the window, as
    ``vitals.readings_overdue`` does for readings).
    """
    _aware("dose_started_at", dose_started_at)
    _aware("now", now)
    window = timedelta(minutes=plan.cadss_window_minutes)
    taken = []
    for rating in ratings:
        _aware("answered_at", rating.answered_at)
        if rating.answered_at >= dose_started_at:
            taken.append(rating)
    taken.sort(key=lambda r: r.answered_at)
    points = [dose_started_at + timedelta(minutes=m) for m in plan.cadss_minutes]
    out = []
    for i, (minutes, at) in enumerate(zip(plan.cadss_minutes, points, strict=True)):
        opens = at - window
        closes = points[i + 1] - window if i + 1 < len(points) else None
        mine = [
            r
            for r in taken
            if opens <= r.answered_at and (closes is None or r.answered_at < closes)
        ]
        if mine:
            out.append(CadssTime(minutes, at, CadssState.DONE, mine[0]))
        elif now >= at + window:
            out.append(CadssTime(minutes, at, CadssState.OVERDUE))
        elif now >= at:
            out.append(CadssTime(minutes, at, CadssState.DUE))
        else:
            out.append(CadssTime(minutes, at, CadssState.UPCOMING))
    return out
