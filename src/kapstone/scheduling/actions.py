"""Every write to the schedule goes through these functions.

Each checks who is acting, validates every field at once (naming the field and the rule,
never a value), writes in one transaction and records one audit event. The rules themselves
are the pure modules: ``series.generate`` builds a series from the signed plan,
``series.move_occurrence`` and ``series.shift_from`` edit it, ``series.refuse_conflicts``
refuses double bookings. Writers lock the patient, the rooms and the staff involved (in that
order) before reading the bookings they check against, so two writers cannot both book the
same time.

A dosing appointment owns the dosing session the nurses work from: booking makes it through
``kapstone.dosing.actions.schedule_session`` (which writes its own audit event), moving moves
it while it is still only scheduled, cancelling cancels it through the dosing lifecycle. The
integration window and dosing spacing are the clinic's (``clinic_series_rules``).
"""

import secrets
import uuid
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapstone.access.roles import Permission, Role
from kapstone.audit.recording import record
from kapstone.core.links import token_hash as feed_token_hash
from kapstone.core.models import Organization, Room, Site
from kapstone.core.permissions import check_permission
from kapstone.dosing import actions as dosing
from kapstone.dosing.models import DosingSession
from kapstone.dosing.rules import SessionStatus
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient
from kapstone.scheduling import rules as staffing
from kapstone.scheduling import series, validate
from kapstone.scheduling.models import Appointment, FeedToken, RetreatRun, StaffHours
from kapstone.scheduling.rules import Kind
from kapstone.treatment.models import TreatmentPlan

# A site with no staff hours recorded is open on weekdays, 08:00 to 18:00.
DEFAULT_OPENING = series.OpeningHours.weekdays(time(8), time(18))


def clinic_series_rules() -> series.SeriesRules:
    """The integration window and dosing spacing: the shipped defaults with the clinic's
    "scheduling" settings. A bad setting is refused naming its key."""
    settings = Organization.current().config.overrides_for("scheduling")
    try:
        return series.clinic_rules(settings)
    except InvalidInput as error:
        raise InvalidInputs([error]) from None


def zone_of(site: Site) -> ZoneInfo:
    return ZoneInfo(site.time_zone)


def opening_hours(site: Site) -> series.OpeningHours:
    """The site's opening hours: on each weekday, from the earliest staff start to the latest
    staff end recorded there."""
    days: dict[int, tuple[time, time]] = {}
    for hours in StaffHours.objects.filter(site=site):
        opens, closes = days.get(hours.weekday, (hours.start, hours.end))
        days[hours.weekday] = (min(opens, hours.start), max(closes, hours.end))
    return series.OpeningHours(days) if days else DEFAULT_OPENING


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return timezone.localtime(moment, zone).replace(tzinfo=None)


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return timezone.make_aware(moment, zone)


def occurrence_of(appointment: Appointment, zone: ZoneInfo) -> series.Occurrence:
    return series.Occurrence(
        kind=Kind(appointment.kind),
        start=_local(appointment.start, zone),
        end=_local(appointment.end, zone),
        series_id=str(appointment.series_id),
        index=appointment.index,
        patient=str(appointment.patient_id),
        room=str(appointment.room_id) if appointment.room_id else None,
        staff=(str(appointment.staff_id),) if appointment.staff_id else (),
        route=appointment.route or None,
        modality=appointment.modality or None,
    )


def signed_plan(patient: Patient) -> TreatmentPlan | None:
    return TreatmentPlan.objects.filter(patient=patient, status="signed").first()


def _lock(patients, rooms, staff) -> dict:
    """Locks the patients (one or several), then the rooms, then the staff, each in id order
    so two writers never wait on each other crosswise; returns the staff locked, by id. Rooms
    and staff may be given as rows or as ids."""
    patient_ids = sorted({p.pk for p in (patients if isinstance(patients, list) else [patients])})
    list(Patient.objects.select_for_update().filter(pk__in=patient_ids).order_by("pk"))
    room_ids = sorted({getattr(room, "pk", room) for room in rooms if room is not None})
    if room_ids:
        list(Room.objects.select_for_update().filter(pk__in=room_ids).order_by("pk"))
    staff_ids = sorted({getattr(person, "pk", person) for person in staff if person is not None})
    if not staff_ids:
        return {}
    users = get_user_model().objects.select_for_update().filter(pk__in=staff_ids)
    return {person.pk: person for person in users.order_by("pk")}


def _booked_near(proposed: list[series.Occurrence], zone: ZoneInfo, patients):
    """The booked appointments of these patients, rooms and staff that the proposed sessions'
    span could overlap."""
    first = _aware(min(o.start for o in proposed), zone)
    last = _aware(max(o.end for o in proposed), zone)
    rooms = {int(o.room) for o in proposed if o.room}
    staff = {int(person) for o in proposed for person in o.staff}
    return Appointment.objects.filter(
        Q(patient__in=patients) | Q(room__in=rooms) | Q(staff__in=staff),
        status=Appointment.Status.BOOKED,
        start__lt=last,
        end__gt=first,
    )


def _refuse_conflicts(
    proposed: list[series.Occurrence], zone: ZoneInfo, patient: Patient, own_series=None
) -> None:
    """Against every booked appointment of the patient, the rooms and the staff involved."""
    if not proposed:
        return
    existing = _booked_near(proposed, zone, [patient.pk])
    if own_series is not None:
        existing = existing.exclude(series_id=own_series)
    series.refuse_conflicts([occurrence_of(a, zone) for a in existing], proposed)


def staff_problems(
    occurrences, people: dict, site: Site, field_for=lambda kind: "staff"
) -> list[InvalidInput]:
    """Each assigned clinician's role, current credentials (kapstone.scheduling.rules) and
    hours at the site (when any are recorded), per session; one message per field and rule."""
    from kapstone.credentials.queries import held_by

    found: dict[tuple[str, str], InvalidInput] = {}
    held: dict[int, list[staffing.Credential]] = {}
    hours: dict[int, list[StaffHours]] = {}
    for occurrence in occurrences:
        for key in occurrence.staff:
            person = people[int(key)]
            if person.pk not in held:
                held[person.pk] = [
                    staffing.Credential(c.kind, expires=c.expires_on, issued=c.issued_on)
                    for c in held_by(person)
                ]
                hours[person.pk] = list(StaffHours.objects.filter(staff=person, site=site))
            field = field_for(occurrence.kind)
            spec = staffing.SessionSpec(
                occurrence.kind, route=occurrence.route, modality=occurrence.modality
            )
            try:
                staffing.check_staff_can_cover(
                    held[person.pk],
                    spec,
                    occurrence.start.date(),
                    roles=[str(role) for role in person.roles],
                )
            except InvalidInput as error:
                found.setdefault((field, error.message), InvalidInput(field, error.message))
            if hours[person.pk] and not any(
                h.weekday == occurrence.start.weekday()
                and h.start <= occurrence.start.time()
                and occurrence.end.time() <= h.end
                and occurrence.start.date() == occurrence.end.date()
                for h in hours[person.pk]
            ):
                message = "the clinician is not working at this site at that time"
                found.setdefault((field, message), InvalidInput(field, message))
    return list(found.values())


def _check_people(errors, site, room_fields, staff_fields) -> None:
    for field, room in room_fields.items():
        if room is not None and (room.site_id != site.pk or not room.active):
            errors.append(InvalidInput(field, "must be an active room at the chosen site"))
    for field, person in staff_fields.items():
        if person is not None and not person.is_active:
            errors.append(InvalidInput(field, "must be an active member of staff"))


@transaction.atomic
def generate_series(
    *,
    by,
    patient: Patient,
    plan: TreatmentPlan,
    site: Site,
    starts_on: date,
    weekdays: tuple[int, ...],
    dosing_time: time,
    integration_time: time,
    dosing_minutes: int = 120,
    integration_minutes: int = 60,
    dosing_room: Room | None = None,
    integration_room: Room | None = None,
    dosing_staff=None,
    integration_staff=None,
    rules: series.SeriesRules | None = None,
) -> list[Appointment]:
    """The patient's whole series from their signed plan: the plan's program, frequency and
    number of dosing sessions, each dosing session followed by its integration session, and
    each dosing appointment's dosing session (naming ``session_prescriber``)."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    errors: list[InvalidInput] = []
    if plan.patient_id != patient.pk or plan.status != "signed":
        errors.append(InvalidInput("plan", "must be the patient's signed treatment plan"))
    if site is None:
        raise InvalidInputs([InvalidInput("site", "is required")])
    if starts_on is None:
        errors.append(InvalidInput("starts_on", "is required"))
    if not weekdays:
        errors.append(InvalidInput("weekdays", "choose at least one weekday"))
    for field, value in (("dosing_time", dosing_time), ("integration_time", integration_time)):
        if value is None:
            errors.append(InvalidInput(field, "is required"))
    for field, value in (("dosing_minutes", dosing_minutes), ("integration_minutes", integration_minutes)):  # fmt: skip
        if value is None or not 15 <= value <= 480:
            errors.append(InvalidInput(field, "must be from 15 to 480 minutes"))
    _check_people(
        errors,
        site,
        {"dosing_room": dosing_room, "integration_room": integration_room},
        {"dosing_staff": dosing_staff, "integration_staff": integration_staff},
    )
    if errors:
        raise InvalidInputs(errors)
    _lock(patient, [dosing_room, integration_room], [dosing_staff, integration_staff])
    rules = rules or clinic_series_rules()
    series_id = uuid.uuid4()
    modalities = list(plan.modalities or [])
    pure_plan = series.SeriesPlan(
        series_id=str(series_id),
        program=plan.program,
        sessions_per_week=plan.sessions_per_week,
        start=starts_on,
        weekdays=tuple(weekdays),
        dosing_time=dosing_time,
        integration_time=integration_time,
        dosing_minutes=dosing_minutes,
        integration_minutes=integration_minutes,
        count=plan.planned_dosing_sessions,
        patient=str(patient.pk),
        route=plan.route,
        modality=modalities[0] if modalities else None,
    )
    try:
        generated = series.generate(pure_plan, opening_hours(site), rules)
    except InvalidInput as error:
        raise InvalidInputs([error]) from None
    placed = [
        replace(
            o,
            room=_key(dosing_room if o.kind is Kind.DOSING else integration_room),
            staff=_staff_key(dosing_staff if o.kind is Kind.DOSING else integration_staff),
        )
        for o in generated
    ]
    people = {p.pk: p for p in (dosing_staff, integration_staff) if p is not None}
    problems = staff_problems(placed, people, site, lambda kind: f"{Kind(kind).value}_staff")
    if problems:
        raise InvalidInputs(problems)
    zone = zone_of(site)
    _refuse_conflicts(placed, zone, patient)
    rooms = {o.uid: dosing_room if o.kind is Kind.DOSING else integration_room for o in placed}
    staff = {o.uid: dosing_staff if o.kind is Kind.DOSING else integration_staff for o in placed}
    return _book(by=by, patient=patient, plan=plan, site=site, series_id=series_id,
                 occurrences=placed, rooms=rooms, staff=staff)  # fmt: skip


def session_prescriber(plan: TreatmentPlan, dosing_clinician):
    """The prescriber a dosing session names: the dosing clinician when they are a prescriber
    (they are in the room), otherwise the prescriber who signed the plan, who answers for the
    dose it orders."""
    if dosing_clinician is not None and Role.PRESCRIBER in dosing_clinician.roles:
        return dosing_clinician
    return plan.signed_by


def _book(
    *, by, patient, plan, site, series_id, occurrences, rooms, staff, retreat=None
) -> list[Appointment]:
    """Writes a checked series: the appointments, and for each dosing appointment the dosing
    session the nurses' list shows, in the caller's transaction."""
    zone = zone_of(site)
    appointments = []
    for o in occurrences:
        start = _aware(o.start, zone)
        session = None
        if o.kind is Kind.DOSING:
            session = dosing.schedule_session(
                by=by,
                patient=patient,
                site=site,
                scheduled_start=start,
                prescriber=session_prescriber(plan, staff[o.uid]),
                room=rooms[o.uid],
            )
        appointments.append(
            Appointment.objects.create(
                patient=patient,
                plan=plan,
                kind=o.kind.value,
                series_id=series_id,
                index=o.index,
                uid=o.uid,
                start=start,
                end=_aware(o.end, zone),
                site=site,
                room=rooms[o.uid],
                staff=staff[o.uid],
                route=o.route or "",
                modality=o.modality or "",
                dosing_session=session,
                retreat=retreat,
                created_by=by,
            )
        )
    record(
        actor=by,
        action="schedule.series.create",
        target=appointments[0],
        patient=patient,
        detail={
            "series": str(series_id),
            "appointments": len(appointments),
            "dosing_sessions": sum(1 for a in appointments if a.dosing_session_id),
        },
    )
    return appointments


def _key(room: Room | None) -> str | None:
    return str(room.pk) if room is not None else None


def _staff_key(person) -> tuple[str, ...]:
    return (str(person.pk),) if person is not None else ()


def _series_of(appointment: Appointment) -> list[Appointment]:
    return list(
        Appointment.objects.filter(
            series_id=appointment.series_id, status=Appointment.Status.BOOKED
        ).order_by("start")
    )


def _edit(
    *, by, appointment: Appointment, new_start: datetime, whole: bool, rules
) -> list[Appointment]:
    check_permission(by, Permission.SCHEDULE_MANAGE)
    if new_start is None:
        raise InvalidInputs([InvalidInput("new_start", "is required")])
    rules = rules or clinic_series_rules()
    current = Appointment.objects.select_related("site").get(pk=appointment.pk)
    if current.status != Appointment.Status.BOOKED:
        raise InvalidInputs([InvalidInput("appointment", "has been cancelled")])
    booked = _series_of(current)
    _lock(current.patient, [a.room for a in booked], [a.staff for a in booked])
    booked = _series_of(current)
    zone = zone_of(current.site)
    if timezone.is_aware(new_start):
        new_start = _local(new_start, zone)
    before = [occurrence_of(a, zone) for a in booked]
    target = occurrence_of(current, zone)
    opening = opening_hours(current.site)
    try:
        if whole:
            delta = new_start - target.start
            edited = series.shift_from(before, target.uid, delta, opening, rules)
        else:
            edited = series.move_occurrence(before, target.uid, new_start, opening, rules)
    except InvalidInput as error:
        raise InvalidInputs([error]) from None
    old = {o.uid: o for o in before}
    changed = [o for o in edited if old[o.uid] != o]
    people = {a.staff.pk: a.staff for a in booked if a.staff_id}
    problems = staff_problems(changed, people, current.site)
    if problems:
        raise InvalidInputs(problems)
    _refuse_conflicts(changed, zone, current.patient, own_series=current.series_id)
    by_uid = {a.uid: a for a in booked}
    sessions = _sessions_to_move([by_uid[o.uid] for o in changed])
    saved = []
    for occurrence in changed:
        row = by_uid[occurrence.uid]
        row.start = _aware(occurrence.start, zone)
        row.end = _aware(occurrence.end, zone)
        row.save(update_fields=["start", "end"])
        saved.append(row)
        session = sessions.get(row.dosing_session_id)
        if session is not None and session.scheduled_start != row.start:
            dosing.reschedule_session(by=by, session=session, scheduled_start=row.start)
    record(
        actor=by,
        action="schedule.series.shift" if whole else "schedule.appointment.move",
        target=current,
        patient=current.patient,
        detail={
            "series": str(current.series_id),
            "moved": len(saved),
            "dosing_sessions": len(sessions),
            "fields": ["start", "end"],
        },
    )
    return saved


def _sessions_to_move(rows: list[Appointment]) -> dict[int, DosingSession]:
    """The dosing sessions of these appointments, locked; refused unless each is still only
    scheduled (once the patient has checked in the session is under way where it is)."""
    ids = sorted(row.dosing_session_id for row in rows if row.dosing_session_id)
    sessions = {s.pk: s for s in DosingSession.objects.select_for_update().filter(pk__in=ids)}
    if any(s.status != SessionStatus.SCHEDULED for s in sessions.values()):
        raise InvalidInputs(
            [
                InvalidInput(
                    "new_start",
                    "a dosing session that is checked in, under way, closed or cancelled "
                    "cannot be moved",
                )
            ]
        )
    return sessions


def move_occurrence(
    *, by, appointment: Appointment, new_start: datetime, rules=None
) -> list[Appointment]:
    """This appointment only, to a new start (its length kept)."""
    with transaction.atomic():
        return _edit(by=by, appointment=appointment, new_start=new_start, whole=False, rules=rules)


def shift_series(
    *, by, appointment: Appointment, new_start: datetime, rules=None
) -> list[Appointment]:
    """This appointment and every later one of its series, by the same time."""
    with transaction.atomic():
        return _edit(by=by, appointment=appointment, new_start=new_start, whole=True, rules=rules)


@transaction.atomic
def cancel(*, by, appointment: Appointment) -> list[Appointment]:
    """Cancels the session and its pair (a dosing session and its integration session go
    together), so the rest of the series still keeps its rules."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    _lock(appointment.patient, [], [])
    pair = list(
        Appointment.objects.select_for_update().filter(
            series_id=appointment.series_id,
            index=appointment.index,
            status=Appointment.Status.BOOKED,
        )
    )
    if not pair:
        raise InvalidInputs([InvalidInput("appointment", "has already been cancelled")])
    ids = sorted(row.dosing_session_id for row in pair if row.dosing_session_id)
    sessions = list(DosingSession.objects.select_for_update().filter(pk__in=ids))
    # A session the nurses have already cancelled stays as it is; one under way or closed is
    # theirs, not the schedule's, to end.
    to_cancel = [s for s in sessions if s.status == SessionStatus.SCHEDULED]
    if any(s.status not in (SessionStatus.SCHEDULED, SessionStatus.CANCELLED) for s in sessions):
        raise InvalidInputs(
            [
                InvalidInput(
                    "appointment",
                    "its dosing session is checked in, under way or closed and cannot be "
                    "cancelled from the schedule",
                )
            ]
        )
    for row in pair:
        row.status = Appointment.Status.CANCELLED
        row.save(update_fields=["status"])
    for session in to_cancel:
        dosing.cancel_scheduled_session(by=by, session=session, reason=CANCEL_REASON)
    record(
        actor=by,
        action="schedule.appointment.cancel",
        target=appointment,
        patient=appointment.patient,
        detail={
            "series": str(appointment.series_id),
            "cancelled": len(pair),
            "dosing_sessions": len(to_cancel),
        },
    )
    return pair


# The dosing session's timeline says where its cancellation came from.
CANCEL_REASON = "appointment cancelled on the schedule"


# Calendar feeds


@transaction.atomic
def rotate_feed_token(*, by) -> str:
    """A new feed link for the signed-in clinician; the old one stops working. The token is
    returned once and never stored."""
    check_permission(by, Permission.SCHEDULE_VIEW)
    token = secrets.token_urlsafe(32)
    feed, created = FeedToken.objects.update_or_create(
        staff=by, defaults={"token_hash": feed_token_hash(token)}
    )
    record(actor=by, action="schedule.feed.rotate", target=feed, detail={"new": created})
    return token


def feed_owner(token: str):
    """The member of staff a feed token belongs to, or None."""
    feed = (
        FeedToken.objects.select_related("staff")
        .filter(token_hash=feed_token_hash(token), staff__is_active=True)
        .first()
    )
    return feed.staff if feed else None


FEED_PAST = timedelta(days=30)


# Retreat cohorts

RETREAT_MOST_PATIENTS = 12
RETREAT_MOST_DAYS = 14


@transaction.atomic
def request_retreat(*, by, site: Site, patients, start: date, days: int) -> RetreatRun:
    """Queues the optimizer for a cohort of patients, each with a signed plan."""
    from kapstone.scheduling import tasks

    check_permission(by, Permission.SCHEDULE_MANAGE)
    patients = list(dict.fromkeys(patients or []))
    errors = []
    if site is None:
        errors.append(InvalidInput("site", "is required"))
    if start is None:
        errors.append(InvalidInput("start", "is required"))
    if days is None or not 1 <= days <= RETREAT_MOST_DAYS:
        errors.append(InvalidInput("days", f"must be from 1 to {RETREAT_MOST_DAYS}"))
    if not 1 <= len(patients) <= RETREAT_MOST_PATIENTS:
        errors.append(
            InvalidInput("patients", f"choose from 1 to {RETREAT_MOST_PATIENTS} patients")
        )
    unsigned = [p for p in patients if signed_plan(p) is None]
    if unsigned:
        errors.append(InvalidInput("patients", "each needs a signed treatment plan"))
    if errors:
        raise InvalidInputs(errors)
    run = RetreatRun.objects.create(site=site, start=start, days=days, requested_by=by)
    run.patients.set(patients)
    record(
        actor=by,
        action="schedule.retreat.request",
        target=run,
        detail={"patients": len(patients), "days": days},
    )
    transaction.on_commit(lambda: tasks.run_retreat(run.pk))
    return run


# Staff hours


@transaction.atomic
def add_staff_hours(*, by, staff, site: Site, weekday: int, start: time, end: time) -> StaffHours:
    """When a member of staff works at a site on a weekday. One person's hours at one site on
    one weekday never overlap (series.staff_hours_problems), so the opening hours and the
    clinician's cover read one span for each stretch of work."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    errors: list[InvalidInput] = []
    if staff is None or not staff.is_active:
        errors.append(InvalidInput("staff", "must be an active member of staff"))
    if site is None or not site.active:
        errors.append(InvalidInput("site", "must be an active site"))
    errors += series.staff_hours_problems([], weekday, start, end)
    if errors:
        raise InvalidInputs(errors)
    # Two managers adding hours for one person at once must not both pass the overlap check.
    get_user_model().objects.select_for_update().filter(pk=staff.pk).exists()
    existing = StaffHours.objects.filter(staff=staff, site=site, weekday=weekday)
    errors = series.staff_hours_problems(existing.values_list("start", "end"), weekday, start, end)
    if errors:
        raise InvalidInputs(errors)
    hours = StaffHours.objects.create(staff=staff, site=site, weekday=weekday, start=start, end=end)
    record(
        actor=by,
        action="schedule.staff_hours.add",
        target=hours,
        detail={"staff": staff.pk, "site": site.pk, "fields": ["weekday", "start", "end"]},
    )
    return hours


@transaction.atomic
def remove_staff_hours(*, by, hours: StaffHours) -> None:
    """Removes one stretch of hours. Sessions already booked in it stay booked: the check
    applies when booking or moving."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    row = StaffHours.objects.select_for_update().filter(pk=hours.pk).first()
    if row is None:
        raise InvalidInputs([InvalidInput("hours", "have already been removed")])
    record(
        actor=by,
        action="schedule.staff_hours.remove",
        target=row,
        detail={"staff": row.staff_id, "site": row.site_id, "weekday": row.weekday},
    )
    row.delete()


# Booking a retreat's schedule


def _retreat_occurrences(run: RetreatRun, cohort) -> list[series.Occurrence]:
    """The stored schedule as occurrences, each patient's sessions under a new series."""
    specs = {p.key: p for p in cohort.patients}
    series_ids = {key: str(uuid.uuid4()) for key in specs}
    found = []
    for s in run.result.get("sessions", []):
        key = str(s["patient"])
        kind = Kind(s["kind"])
        spec = specs[key].spec(kind) if key in specs else None
        found.append(
            series.Occurrence(
                kind=kind,
                start=datetime.fromisoformat(s["start"]),
                end=datetime.fromisoformat(s["end"]),
                series_id=series_ids.get(key, key),
                index=int(s["index"]),
                patient=key,
                room=str(s["room"]) if s.get("room") else None,
                staff=tuple(str(person) for person in s.get("staff", [])),
                route=spec.route if spec else None,
                modality=spec.modality if spec else None,
            )
        )
    return found


def _retreat_conflicts(proposed: list[series.Occurrence], zone: ZoneInfo) -> list[InvalidInput]:
    """Each retreat session that overlaps a booked appointment of its patient, room or
    clinician, named by its session and time (never by patient)."""
    if not proposed:
        return []
    existing = _booked_near(proposed, zone, {int(o.patient) for o in proposed})
    found = series.conflicts([occurrence_of(a, zone) for a in existing], proposed)
    messages = dict.fromkeys(
        f"{Kind(c.proposed.kind).label.lower()} {c.proposed.index} at "
        f"{c.proposed.start:%a %d %b %H:%M} overlaps another booking of the same {c.resource}"
        for c in found
    )
    return [InvalidInput("schedule", message) for message in messages]


@transaction.atomic
def book_retreat(*, by, run: RetreatRun) -> list[Appointment]:
    """Books the optimizer's schedule for every patient of the cohort at once, after checking
    it again against today's staff, credentials, rooms, rules and bookings: a schedule found
    days ago may no longer hold. All or nothing; a run is booked once."""
    from kapstone.scheduling import tasks

    check_permission(by, Permission.SCHEDULE_MANAGE)
    run = RetreatRun.objects.select_for_update().select_related("site").get(pk=run.pk)
    if run.booked:
        raise InvalidInputs([InvalidInput("run", "has already been booked")])
    if run.status != RetreatRun.Status.DONE or not run.result.get("sessions"):
        raise InvalidInputs([InvalidInput("run", "has no schedule to book")])
    patients = list(run.patients.order_by("pk"))
    plans = {p.pk: signed_plan(p) for p in patients}
    if any(plan is None for plan in plans.values()):
        raise InvalidInputs([InvalidInput("patients", "each needs a signed treatment plan")])
    sessions = run.result["sessions"]
    room_ids = sorted({int(s["room"]) for s in sessions if s.get("room")})
    staff_ids = sorted({int(person) for s in sessions for person in s.get("staff", [])})
    people = _lock(patients, room_ids, staff_ids)
    cohort = tasks.build_cohort(run, series_rules=clinic_series_rules())
    proposed = _retreat_occurrences(run, cohort)
    problems = [
        InvalidInput(violation.rule, violation.message)
        for violation in validate.validate(cohort, proposed)
    ]
    if problems:
        raise InvalidInputs(problems)
    zone = zone_of(run.site)
    clashes = _retreat_conflicts(proposed, zone)
    if clashes:
        raise InvalidInputs(clashes)
    rooms = {r.pk: r for r in Room.objects.filter(pk__in=room_ids)}
    booked: list[Appointment] = []
    for patient in patients:
        mine = sorted(
            (o for o in proposed if o.patient == str(patient.pk)),
            key=lambda o: (o.start, o.kind is Kind.INTEGRATION),
        )
        booked += _book(
            by=by,
            patient=patient,
            plan=plans[patient.pk],
            site=run.site,
            series_id=uuid.UUID(mine[0].series_id),
            occurrences=mine,
            rooms={o.uid: rooms.get(int(o.room)) if o.room else None for o in mine},
            staff={o.uid: people.get(int(o.staff[0])) if o.staff else None for o in mine},
            retreat=run,
        )
    run.booked_at = timezone.now()
    run.booked_by = by
    run.save(update_fields=["booked_at", "booked_by"])
    record(
        actor=by,
        action="schedule.retreat.book",
        target=run,
        detail={"patients": len(patients), "appointments": len(booked)},
    )
    return booked
