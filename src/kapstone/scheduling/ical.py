"""A clinician's calendar feed as iCalendar text.

    text = clinician_feed("therapist-2", occurrences, ZoneInfo("America/Denver"))

A feed leaves the clinic's systems: it is fetched by phones and calendar services the clinic
does not control. So it carries no patient data at all: no name, no record number, no route
or modality, nothing in a UID that could be traced back without the clinic's database. A
session reads "Dosing session · Room Dosing 2"; its UID is a hash of the occurrence's own
key, the same on every fetch so calendars update rather than duplicate. Times are the
clinic's wall-clock times, written in UTC. Pure Python.
"""

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from .rules import Kind
from .series import Occurrence

PRODID = "-//Kapstone//Scheduling//EN"


def event_uid(occurrence: Occurrence, domain: str = "kapstone.invalid") -> str:
    digest = hashlib.sha256(occurrence.uid.encode()).hexdigest()[:32]
    return f"{digest}@{domain}"


def summary(occurrence: Occurrence) -> str:
    text = Kind(occurrence.kind).label
    return f"{text} · Room {occurrence.room}" if occurrence.room else text


def clinician_feed(
    staff_key: str,
    occurrences: Iterable[Occurrence],
    clinic_zone: ZoneInfo,
    stamp: datetime | None = None,
    domain: str = "kapstone.invalid",
) -> str:
    """The clinician's sessions, soonest first. ``stamp`` (DTSTAMP) defaults to now."""
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Kapstone sessions")
    mine = sorted((o for o in occurrences if staff_key in o.staff), key=lambda o: o.start)
    for occurrence in mine:
        event = Event()
        event.add("uid", event_uid(occurrence, domain))
        event.add("dtstamp", stamp)
        event.add("dtstart", _utc(occurrence.start, clinic_zone))
        event.add("dtend", _utc(occurrence.end, clinic_zone))
        event.add("summary", summary(occurrence))
        if occurrence.room:
            event.add("location", f"Room {occurrence.room}")
        calendar.add_component(event)
    return calendar.to_ical().decode()


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)
