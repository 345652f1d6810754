"""The schedule: the day and week calendar, a patient's series, editing one session or the
rest of the series, retreats (request, result, booking), staff hours and each clinician's
calendar feed.

The feed is public: its address's token is the only key (32 random bytes; only its hash is
kept), and it carries no patient data (kapstone.scheduling.ical), so a leaked link shows when
a clinician works and in which room, nothing about any patient. The pages that show patients
are audited: the calendar one ``patient.list`` naming each patient shown, a patient's series
and a session's page one ``patient.view``.
"""

from datetime import datetime, timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.audit.recording import record, record_reads
from kapstone.core.forms import apply_domain_errors
from kapstone.core.models import Room, Site
from kapstone.core.permissions import has_permission, public, requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient
from kapstone.scheduling import actions, ical
from kapstone.scheduling.forms import (
    CalendarForm,
    MoveForm,
    RetreatForm,
    SeriesForm,
    StaffHoursForm,
)
from kapstone.scheduling.models import Appointment, FeedToken, RetreatRun, StaffHours
from kapstone.scheduling.rules import Kind
from kapstone.scheduling.series import WEEKDAYS, Occurrence
from kapstone.staff.models import User

Booked = Appointment.Status.BOOKED


def _site_for(request_site: Site | None) -> Site | None:
    return request_site or Site.objects.filter(active=True).order_by("pk").first()


@requires(P.SCHEDULE_VIEW)
def schedule_calendar(request):
    form = CalendarForm(request.GET or None)
    values = form.cleaned_data if form.is_valid() else {}
    site = _site_for(values.get("site"))
    room = values.get("room")
    span = values.get("span") or "week"
    zone = actions.zone_of(site) if site else timezone.get_current_timezone()
    day = values.get("day") or timezone.localdate(timezone=zone)
    first = day - timedelta(days=day.weekday()) if span == "week" else day
    days = [first + timedelta(days=n) for n in range(7 if span == "week" else 1)]
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()), zone)
    end = timezone.make_aware(
        datetime.combine(days[-1] + timedelta(days=1), datetime.min.time()), zone
    )
    shown = Appointment.objects.filter(status=Booked, start__lt=end, end__gt=start)
    shown = shown.filter(site=site) if site else shown.none()
    if room:
        shown = shown.filter(room=room)
    shown = list(shown.select_related("patient", "room", "staff").order_by("start"))
    names = has_permission(request.user, P.PATIENT_VIEW_DEMOGRAPHICS)
    by_day = {d: [] for d in days}
    for appointment in shown:
        by_day.setdefault(timezone.localtime(appointment.start, zone).date(), []).append(
            appointment
        )
    if names:
        record_reads(
            actor=request.user,
            action="patient.list",
            targets=list(dict.fromkeys(a.patient for a in shown)),
            detail={"page": "schedule"},
        )
    step = timedelta(days=7 if span == "week" else 1)
    return render(
        request,
        "scheduling/calendar.html",
        {
            "form": form,
            "site": site,
            "room": room,
            "span": span,
            "by_day": [(d, by_day.get(d, [])) for d in days],
            "names": names,
            "zone": zone,
            "previous": first - step,
            "next": first + step,
            "sites": Site.objects.filter(active=True),
            "rooms": Room.objects.filter(active=True, site=site) if site else Room.objects.none(),
        },
    )


def _patient_page(request, patient, form, status=200):
    record(actor=request.user, action="patient.view", target=patient, detail={"page": "schedule"})
    appointments = list(
        Appointment.objects.filter(patient=patient)
        .select_related("site", "room", "staff")
        .order_by("start")
    )
    series_ids = list(dict.fromkeys(a.series_id for a in appointments))
    return render(
        request,
        "scheduling/patient.html",
        {
            "patient": patient,
            "series": [(s, [a for a in appointments if a.series_id == s]) for s in series_ids],
            "plan": actions.signed_plan(patient),
            "form": form,
            "can_manage": has_permission(request.user, P.SCHEDULE_MANAGE),
        },
        status=status,
    )


@requires(P.SCHEDULE_VIEW)
def schedule_patient(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = SeriesForm(initial={"site": _site_for(None)})
    return _patient_page(request, patient, form)


@requires(P.SCHEDULE_MANAGE)
@require_POST
def schedule_generate(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = SeriesForm(request.POST)
    plan = actions.signed_plan(patient)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if plan is None:
                raise InvalidInput("plan", "the patient has no signed treatment plan")
            made = actions.generate_series(
                by=request.user,
                patient=patient,
                plan=plan,
                site=_site_for(data["site"]),
                starts_on=data["starts_on"],
                weekdays=tuple(data["weekdays"]),
                dosing_time=data["dosing_time"],
                integration_time=data["integration_time"],
                dosing_minutes=data["dosing_minutes"],
                integration_minutes=data["integration_minutes"],
                dosing_room=data["dosing_room"],
                integration_room=data["integration_room"],
                dosing_staff=data["dosing_staff"],
                integration_staff=data["integration_staff"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Series booked: {len(made)} sessions.")
            return redirect("schedule_patient", pk=patient.pk)
    return _patient_page(request, patient, form, status=422)


def _appointment_page(request, appointment, move=None, shift=None, status=200):
    record(
        actor=request.user,
        action="patient.view",
        target=appointment.patient,
        detail={"page": "schedule.appointment"},
    )
    zone = actions.zone_of(appointment.site)
    local = timezone.localtime(appointment.start, zone).replace(tzinfo=None)
    initial = {"new_start": local.strftime("%Y-%m-%dT%H:%M")}
    return render(
        request,
        "scheduling/appointment.html",
        {
            "appointment": appointment,
            "patient": appointment.patient,
            "zone": zone,
            "move": move or MoveForm(initial=initial, prefix="move"),
            "shift": shift or MoveForm(initial=initial, prefix="shift"),
        },
        status=status,
    )


def _appointment(pk) -> Appointment:
    return get_object_or_404(Appointment.objects.select_related("patient", "site", "room"), pk=pk)


@requires(P.SCHEDULE_MANAGE)
def schedule_appointment(request, pk):
    return _appointment_page(request, _appointment(pk))


def _edit(request, pk, whole: bool):
    appointment = _appointment(pk)
    prefix = "shift" if whole else "move"
    form = MoveForm(request.POST, prefix=prefix)
    if form.is_valid():
        # The time entered is the site's wall-clock time.
        new_start = timezone.make_naive(form.cleaned_data["new_start"])
        edit = actions.shift_series if whole else actions.move_occurrence
        try:
            moved = edit(by=request.user, appointment=appointment, new_start=new_start)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Moved {len(moved)} sessions.")
            return redirect("schedule_patient", pk=appointment.patient_id)
    forms = {"shift": form} if whole else {"move": form}
    return _appointment_page(request, appointment, status=422, **forms)


@requires(P.SCHEDULE_MANAGE)
@require_POST
def schedule_move(request, pk):
    return _edit(request, pk, whole=False)


@requires(P.SCHEDULE_MANAGE)
@require_POST
def schedule_shift(request, pk):
    return _edit(request, pk, whole=True)


@requires(P.SCHEDULE_MANAGE)
@require_POST
def schedule_cancel(request, pk):
    appointment = _appointment(pk)
    try:
        cancelled = actions.cancel(by=request.user, appointment=appointment)
    except (InvalidInput, InvalidInputs) as error:
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        messages.error(request, f"Nothing was saved: the session {errors[0].message}.")
    else:
        messages.success(request, f"Cancelled {len(cancelled)} sessions.")
    return redirect("schedule_patient", pk=appointment.patient_id)


# The new link is shown once, on the page the POST redirects to, then forgotten.
NEW_FEED_KEY = "kapstone_new_feed_token"


@requires(P.SCHEDULE_VIEW)
def schedule_feed_link(request):
    if request.method == "POST":
        request.session[NEW_FEED_KEY] = actions.rotate_feed_token(by=request.user)
        return redirect("schedule_feed_link")
    token = request.session.pop(NEW_FEED_KEY, None)
    link = request.build_absolute_uri(reverse("schedule_feed", args=[token])) if token else None
    response = render(
        request,
        "scheduling/feed_link.html",
        {"link": link, "has_feed": FeedToken.objects.filter(staff=request.user).exists()},
    )
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@public
@never_cache
def schedule_feed(request, token):
    staff = actions.feed_owner(token)
    if staff is None:
        raise Http404("no such feed")
    since = timezone.now() - actions.FEED_PAST
    rows = Appointment.objects.filter(staff=staff, status=Booked, end__gte=since).select_related(
        "room", "site"
    )
    # Aware times: the feed writes them in UTC whatever the site's zone.
    occurrences = [
        Occurrence(
            kind=Kind(row.kind),
            start=row.start,
            end=row.end,
            series_id=str(row.series_id),
            index=row.index,
            room=row.room.name if row.room else None,
            staff=(str(staff.pk),),
        )
        for row in rows
    ]
    text = ical.clinician_feed(str(staff.pk), occurrences, timezone.get_current_timezone())
    response = HttpResponse(text, content_type="text/calendar; charset=utf-8")
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _candidates():
    return Patient.objects.filter(treatment_plans__status="signed").distinct().order_by("pk")


@requires(P.SCHEDULE_MANAGE)
def retreat_new(request):
    candidates = _candidates()
    form = RetreatForm(request.POST or None, candidates=candidates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = actions.request_retreat(
                by=request.user,
                site=_site_for(data["site"]),
                patients=list(data["patients"]),
                start=data["start"],
                days=data["days"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            return redirect("retreat_result", pk=run.pk)
    # The form lists the patients by name: a read of each.
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=list(candidates),
        detail={"page": "schedule.retreat"},
    )
    return render(
        request, "scheduling/retreat_new.html", {"form": form}, status=422 if form.errors else 200
    )


@requires(P.SCHEDULE_MANAGE)
def retreat_result(request, pk, booking_problems=None):
    run = get_object_or_404(RetreatRun.objects.select_related("site"), pk=pk)
    patients = {p.pk: p for p in run.patients.order_by("pk")}
    rooms = {r.pk: r for r in Room.objects.filter(site=run.site)}
    sessions = run.result.get("sessions", [])
    staff_ids = {person for s in sessions for person in s["staff"]}
    staff = {u.pk: u for u in User.objects.filter(pk__in=staff_ids)}
    rows = [
        {
            "patient": patients.get(s["patient"]),
            "kind": "Dosing session" if s["kind"] == "dosing" else "Integration session",
            "index": s["index"],
            "start": datetime.fromisoformat(s["start"]),
            "end": datetime.fromisoformat(s["end"]),
            "room": rooms.get(s["room"]),
            "staff": [staff[p] for p in s["staff"] if p in staff],
        }
        for s in sessions
    ]
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=list(patients.values()),
        detail={"page": "schedule.retreat", "run": run.pk},
    )
    return render(
        request,
        "scheduling/retreat_result.html",
        {
            "run": run,
            "rows": rows,
            "problems": run.result.get("problems", []),
            "booking_problems": booking_problems or [],
            "can_book": run.status == RetreatRun.Status.DONE and not run.booked and bool(rows),
        },
        status=422 if booking_problems else 200,
    )


@requires(P.SCHEDULE_MANAGE)
@require_POST
def retreat_book(request, pk):
    run = get_object_or_404(RetreatRun, pk=pk)
    try:
        booked = actions.book_retreat(by=request.user, run=run)
    except (InvalidInput, InvalidInputs) as error:
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        return retreat_result(request, pk, booking_problems=errors)
    messages.success(request, f"Retreat booked: {len(booked)} sessions.")
    return redirect("retreat_result", pk=run.pk)


def _staff_hours_page(request, form, status=200):
    hours = list(
        StaffHours.objects.select_related("site").order_by("site__name", "weekday", "start")
    )
    by_person: dict[int, list[StaffHours]] = {}
    for row in hours:
        by_person.setdefault(row.staff_id, []).append(row)
    staff = User.objects.filter(is_active=True).order_by("last_name", "first_name")
    return render(
        request,
        "scheduling/staff_hours.html",
        {
            "people": [(person, by_person.get(person.pk, [])) for person in staff],
            "form": form,
            "weekdays": WEEKDAYS,
            "can_manage": has_permission(request.user, P.SCHEDULE_MANAGE),
        },
        status=status,
    )


@requires(P.SCHEDULE_VIEW)
def staff_hours(request):
    return _staff_hours_page(request, StaffHoursForm(initial={"site": _site_for(None)}))


@requires(P.SCHEDULE_MANAGE)
@require_POST
def staff_hours_add(request):
    form = StaffHoursForm(request.POST)
    if form.is_valid():
        try:
            actions.add_staff_hours(by=request.user, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Hours added.")
            return redirect("schedule_staff_hours")
    return _staff_hours_page(request, form, status=422)


@requires(P.SCHEDULE_MANAGE)
@require_POST
def staff_hours_remove(request, pk):
    hours = get_object_or_404(StaffHours, pk=pk)
    try:
        actions.remove_staff_hours(by=request.user, hours=hours)
    except (InvalidInput, InvalidInputs):
        messages.error(request, "Nothing was saved: those hours had already been removed.")
    else:
        messages.success(request, "Hours removed.")
    return redirect("schedule_staff_hours")


urlpatterns = [
    path("", schedule_calendar, name="schedule_calendar"),
    path("patients/<int:pk>/", schedule_patient, name="schedule_patient"),
    path("patients/<int:pk>/generate/", schedule_generate, name="schedule_generate"),
    path("appointments/<int:pk>/", schedule_appointment, name="schedule_appointment"),
    path("appointments/<int:pk>/move/", schedule_move, name="schedule_move"),
    path("appointments/<int:pk>/shift/", schedule_shift, name="schedule_shift"),
    path("appointments/<int:pk>/cancel/", schedule_cancel, name="schedule_cancel"),
    path("retreats/new/", retreat_new, name="retreat_new"),
    path("retreats/<int:pk>/", retreat_result, name="retreat_result"),
    path("retreats/<int:pk>/book/", retreat_book, name="retreat_book"),
    path("staff-hours/", staff_hours, name="schedule_staff_hours"),
    path("staff-hours/add/", staff_hours_add, name="schedule_staff_hours_add"),
    path("staff-hours/<int:pk>/remove/", staff_hours_remove, name="schedule_staff_hours_remove"),
    path("feed/", schedule_feed_link, name="schedule_feed_link"),
    path("feed/<str:token>.ics", schedule_feed, name="schedule_feed"),
]
