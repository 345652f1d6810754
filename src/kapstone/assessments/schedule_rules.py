"""Which scheduled check-ins fall due now. Pure Python: no Django, no database.

A schedule makes one occurrence per dosing session (before it, or a number of hours after it)
or one per week from its start date. Each occurrence has a key, unique within its schedule
(``dose:41:pre``, ``dose:41:+24h``, ``week:2026-11-23``), so the worker can run every minute,
or twice at once, and never make the same check-in twice: an occurrence whose key already
exists is not proposed again.

An occurrence is made while it is open: from the moment it falls due until its link would
close. One whose link would already be closed (the worker was down, the schedule was set up
late, the session was long ago) is never made: a questionnaire about last month is not a
check-in. A pre-dose link closes when the session starts, so its answers are always from
before the dose.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

BEFORE_DOSING = "before_dosing"
AFTER_DOSING = "after_dosing"
WEEKLY = "weekly"
KINDS = (BEFORE_DOSING, AFTER_DOSING, WEEKLY)

# The timepoints a score is filed under (kapstone.assessments.models.Timepoint values).
PRE_DOSE = "pre_dose"
POST_24H = "post_24h"
POST_7D = "post_7d"
WEEKLY_TIMEPOINT = "weekly"
OTHER = "other"
_AFTER_TIMEPOINTS = {24: POST_24H, 168: POST_7D}


@dataclass(frozen=True)
class Schedule:
    id: int
    patient_id: int
    kind: str
    # Before dosing: hours before the session; after dosing: hours after it; weekly: unused.
    offset_hours: int
    starts_on: date
    ended_at: datetime | None
    instruments: tuple[str, ...]


@dataclass(frozen=True)
class Session:
    """A dosing session that has not been cancelled."""

    id: int
    patient_id: int
    starts_at: datetime


@dataclass(frozen=True)
class Rules:
    link_valid: timedelta
    # Weekly check-ins fall due at this local time, in the clinic's time zone.
    weekly_at: time
    tz: tzinfo


@dataclass(frozen=True)
class Occurrence:
    schedule_id: int
    patient_id: int
    key: str
    due_at: datetime
    expires_at: datetime
    timepoint: str
    instruments: tuple[str, ...]


def timepoint_for(kind: str, offset_hours: int) -> str:
    if kind == BEFORE_DOSING:
        return PRE_DOSE
    if kind == AFTER_DOSING:
        return _AFTER_TIMEPOINTS.get(offset_hours, OTHER)
    return WEEKLY_TIMEPOINT


def session_window(
    schedules: Iterable[Schedule], now: datetime, rules: Rules
) -> tuple[datetime, datetime] | None:
    """The session start times that can have an open occurrence now, for the caller's query;
    None when no schedule follows dosing sessions."""
    before = [s.offset_hours for s in schedules if s.kind == BEFORE_DOSING]
    after = [s.offset_hours for s in schedules if s.kind == AFTER_DOSING]
    if not before and not after:
        return None
    earliest = now - timedelta(hours=max(after, default=0)) - rules.link_valid
    latest = now + timedelta(hours=max(before, default=0))
    return earliest, latest


def _local_date(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def _dose_occurrences(schedule: Schedule, sessions: Iterable[Session], rules: Rules):
    for session in sessions:
        if session.patient_id != schedule.patient_id:
            continue
        if _local_date(session.starts_at, rules.tz) < schedule.starts_on:
            continue
        offset = timedelta(hours=schedule.offset_hours)
        if schedule.kind == BEFORE_DOSING:
            due = session.starts_at - offset
            yield f"dose:{session.id}:pre", due, min(due + rules.link_valid, session.starts_at)
        else:
            due = session.starts_at + offset
            yield f"dose:{session.id}:+{schedule.offset_hours}h", due, due + rules.link_valid


def _weekly_occurrences(schedule: Schedule, now: datetime, rules: Rules):
    today = _local_date(now, rules.tz)
    if today < schedule.starts_on:
        return
    # Only the last few weeks can still be open; older ones are not worth enumerating.
    last = (today - schedule.starts_on).days // 7
    lookback = rules.link_valid.days // 7 + 1
    for week in range(max(0, last - lookback), last + 1):
        day = schedule.starts_on + timedelta(weeks=week)
        due = datetime.combine(day, rules.weekly_at, tzinfo=rules.tz)
        yield f"week:{day.isoformat()}", due, due + rules.link_valid


def due_occurrences(
    schedules: Iterable[Schedule],
    sessions: Iterable[Session],
    existing: Mapping[int, Collection[str]],
    now: datetime,
    rules: Rules,
) -> list[Occurrence]:
    """The check-ins to make now: fallen due, still open, not ended, not made before.

    ``existing`` maps a schedule id to the occurrence keys it already has. The result is in
    the order the check-ins fell due.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    sessions = list(sessions)
    made: list[Occurrence] = []
    for schedule in schedules:
        if schedule.kind in (BEFORE_DOSING, AFTER_DOSING):
            candidates = _dose_occurrences(schedule, sessions, rules)
        elif schedule.kind == WEEKLY:
            candidates = _weekly_occurrences(schedule, now, rules)
        else:
            raise ValueError(f"unknown schedule kind: {schedule.kind}")
        seen = set(existing.get(schedule.id, ()))
        for key, due, expires in candidates:
            if key in seen or not due <= now < expires:
                continue
            if schedule.ended_at is not None and due >= schedule.ended_at:
                continue
            seen.add(key)
            made.append(
                Occurrence(
                    schedule_id=schedule.id,
                    patient_id=schedule.patient_id,
                    key=key,
                    due_at=due,
                    expires_at=expires,
                    timepoint=timepoint_for(schedule.kind, schedule.offset_hours),
                    instruments=schedule.instruments,
                )
            )
    made.sort(key=lambda o: (o.due_at, o.schedule_id, o.key))
    return made
