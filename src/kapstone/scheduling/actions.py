"""Every write to the schedule goes through these functions.

Each checks who is acting, validates every field at once (naming the field and the rule,
never a value), writes in one transaction and records one audit event. The rules themselves
are the pure modules: ``series.generate`` builds a series from the signed plan,
``series.move_occurrence`` and ``series.shift_from`` edit it, ``series.refuse_conflicts``
refuses double bookings. Writers lock the patient, the rooms and the staff involved (in that
order) before reading the bookings they check against, so two writers cannot both book the
same time.
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

from kapstone.access.roles import Permission
from kapstone.audit.recording import record
from kapstone.core.links import token_hash as feed_token_hash
from kapstone.core.models import Room, Site
from kapstone.core.permissions import check_permission
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient
from kapstone.scheduling import rules as staffing
from kapstone.scheduling import series
from kapstone.scheduling.models import Appointment, FeedToken, RetreatRun, StaffHours
from kapstone.scheduling.rules import Kind
from kapstone.treatment.models import TreatmentPlan

# A site with no staff hours recorded is open on weekdays, 08:00 to 18:00.
DEFAULT_OPENING = series.OpeningHours.weekdays(time(8), time(18))


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


def _lock(patient: Patient, rooms, staff) -> None:
    Patient.objects.select_for_update().filter(pk=patient.pk).exists()
    room_ids = sorted({room.pk for room in rooms if room is not None})
    if room_ids:
        list(Room.objects.select_for_update().filter(pk__in=room_ids).order_by("pk"))
    staff_ids = sorted({person.pk for person in staff if person is not None})
    if staff_ids:
        users = get_user_model().objects.select_for_update().filter(pk__in=staff_ids)
        list(users.order_by("pk"))


def _refuse_conflicts(
    proposed: list[series.Occurrence], zone: ZoneInfo, patient: Patient, own_series=None
) -> None:
    """Against every booked appointment of the patient, the rooms and the staff involved."""
    if not proposed:
        return
    first = _aware(min(o.start for o in proposed), zone)
    last = _aware(max(o.end for o in proposed), zone)
    rooms = {int(o.room) for o in proposed if o.room}
    staff = {int(person) for o in proposed for person in o.staff}
    existing = Appointment.objects.filter(
        Q(patient=patient) | Q(room__in=rooms) | Q(staff__in=staff),
        status=Appointment.Status.BOOKED,
        start__lt=last,
        end__gt=first,
    )
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
    number of dosing sessions, each dosing session followed by its integration session."""
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
    appointments = [
        Appointment.objects.create(
            patient=patient,
            plan=plan,
            kind=o.kind.value,
            series_id=series_id,
            index=o.index,
            uid=o.uid,
            start=_aware(o.start, zone),
            end=_aware(o.end, zone),
            site=site,
            room=dosing_room if o.kind is Kind.DOSING else integration_room,
            staff=dosing_staff if o.kind is Kind.DOSING else integration_staff,
            route=o.route or "",
            modality=o.modality or "",
            created_by=by,
        )
        for o in placed
    ]
    record(
        actor=by,
        action="schedule.series.create",
        target=appointments[0],
        patient=patient,
        detail={"series": str(series_id), "appointments": len(appointments)},
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
    saved = []
    for occurrence in changed:
        row = by_uid[occurrence.uid]
        row.start = _aware(occurrence.start, zone)
        row.end = _aware(occurrence.end, zone)
        row.save(update_fields=["start", "end"])
        saved.append(row)
    record(
        actor=by,
        action="schedule.series.shift" if whole else "schedule.appointment.move",
        target=current,
        patient=current.patient,
        detail={"series": str(current.series_id), "moved": len(saved), "fields": ["start", "end"]},
    )
    return saved


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
    for row in pair:
        row.status = Appointment.Status.CANCELLED
        row.save(update_fields=["status"])
    record(
        actor=by,
        action="schedule.appointment.cancel",
        target=appointment,
        patient=appointment.patient,
        detail={"series": str(appointment.series_id), "cancelled": len(pair)},
    )
    return pair


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
