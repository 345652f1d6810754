"""A clinician's iCalendar feed: their sessions only, stable UIDs, UTC times, no patient data."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from kapstone.scheduling import ical
from kapstone.scheduling.rules import Kind
from kapstone.scheduling.series import Occurrence

DENVER = ZoneInfo("America/Denver")
STAMP = datetime(2026, 3, 1, tzinfo=UTC)


def session(kind, start, series="patient-record-4711", index=1, room="Dosing 2", staff=("n1",)):
    begin = datetime.fromisoformat(start)
    length = timedelta(hours=2 if kind is Kind.DOSING else 1)
    return Occurrence(kind, begin, begin + length, series, index, "patient-record-4711", room,
                      staff, "iv", "emdr")  # fmt: skip


SESSIONS = [
    # The first after the switch to daylight time (8 March).
    session(Kind.DOSING, "2026-03-09 09:00", index=2),
    session(Kind.DOSING, "2026-03-02 09:00"),
    session(Kind.INTEGRATION, "2026-03-03 14:00", room="Therapy 1", staff=("t1",)),
]


def events(text):
    return [c for c in Calendar.from_ical(text).walk() if c.name == "VEVENT"]


def test_only_the_clinicians_sessions_soonest_first_in_utc():
    found = events(ical.clinician_feed("n1", SESSIONS, DENVER, STAMP))
    assert [e.decoded("dtstart") for e in found] == [
        datetime(2026, 3, 2, 16, 0, tzinfo=UTC),  # 09:00 MST
        datetime(2026, 3, 9, 15, 0, tzinfo=UTC),  # 09:00 MDT
    ]
    assert found[0].decoded("dtend") == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    assert "DTSTART:20260302T160000Z" in ical.clinician_feed("n1", SESSIONS, DENVER, STAMP)
    assert [str(e["summary"]) for e in found] == ["Dosing session · Room Dosing 2"] * 2
    therapist = events(ical.clinician_feed("t1", SESSIONS, DENVER, STAMP))
    assert [str(e["summary"]) for e in therapist] == ["Integration session · Room Therapy 1"]


def test_uids_are_stable_and_distinct_per_occurrence():
    first = [str(e["uid"]) for e in events(ical.clinician_feed("n1", SESSIONS, DENVER, STAMP))]
    again = [str(e["uid"]) for e in events(ical.clinician_feed("n1", SESSIONS, DENVER))]
    assert first == again
    assert len(set(first)) == 2
    moved = [SESSIONS[1].__class__(**{**SESSIONS[1].__dict__, "start": SESSIONS[1].start
                                      + timedelta(hours=1)})]  # fmt: skip
    assert str(events(ical.clinician_feed("n1", moved, DENVER))[0]["uid"]) == first[0]


def test_the_feed_carries_no_patient_data():
    text = ical.clinician_feed("n1", SESSIONS, DENVER, STAMP)
    for secret in ("patient", "4711", "iv", "emdr", "IV", "EMDR"):
        assert secret not in text.replace("VEVENT", "").replace("PRIVATE", "")


def test_an_empty_feed_is_still_a_calendar():
    text = ical.clinician_feed("nobody", SESSIONS, DENVER, STAMP)
    assert text.startswith("BEGIN:VCALENDAR")
    assert events(text) == []
