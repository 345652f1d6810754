"""Dosing-session pages: the day's list, scheduling, the session screen that guides each step,
the nurse-station board and the session note (page and PDF)."""

import logging
from datetime import date

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.audit.recording import record, record_reads
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import has_permission, requires
from kapstone.dosing import actions, forms, gates, queries
from kapstone.dosing.models import DosingSession, VitalAlert
from kapstone.dosing.rules import SessionStatus, next_step, resume_status
from kapstone.errors import DomainError, InvalidInput, InvalidInputs
from kapstone.patients.models import Patient

S = SessionStatus


def _session(pk) -> DosingSession:
    return get_object_or_404(
        DosingSession.objects.select_related("patient", "site", "room", "prescriber"), pk=pk
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def session_list(request):
    try:
        day = date.fromisoformat(request.GET.get("day", "")) if request.GET.get("day") else None
    except ValueError:
        day = None
    day = day or timezone.localdate()
    sessions = list(
        DosingSession.objects.filter(scheduled_start__date=day)
        .select_related("patient", "room", "site")
        .order_by("scheduled_start", "pk")
    )
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=[s.patient for s in sessions],
        detail={"list": "dosing_sessions"},
    )
    return render(request, "dosing/list.html", {"sessions": sessions, "day": day})


@requires(P.SCHEDULE_MANAGE)
def session_new(request):
    form = forms.ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        patient = Patient.objects.filter(record_number=data["record_number"].strip()).first()
        if patient is None:
            form.add_error("record_number", "Patient record number is not on file")
        else:
            try:
                session = actions.schedule_session(
                    by=request.user,
                    patient=patient,
                    site=data["site"],
                    room=data["room"],
                    scheduled_start=data["scheduled_start"],
                    prescriber=data["prescriber"],
                )
            except (InvalidInput, InvalidInputs) as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, "Session scheduled.")
                # Front desk books sessions but does not read the clinical record.
                if has_permission(request.user, P.PATIENT_VIEW_CLINICAL):
                    return redirect("dosing_session", session.pk)
                return redirect("schedule_patient", patient.pk)
    return render(request, "dosing/new.html", {"form": form}, status=422 if form.errors else 200)


def _step_forms(request, session, bound=None) -> dict:
    """The forms the session's current step offers; `bound` replaces one with its errors."""
    now = timezone.localtime().replace(second=0, microsecond=0)
    out = {
        "status_form": forms.StatusForm(),
        "predose_form": forms.PreDoseForm(initial={"escort_confirmed": False}),
        "clear_form": forms.ClearForm(),
        "administration_form": forms.AdministrationForm(
            initial={"started_at": now, "stopped_at": now, "route": session.route or None},
            site=session.site,
        ),
        "vitals_form": forms.VitalsForm(),
        "adverse_form": forms.AdverseEventForm(),
        "discharge_form": forms.DischargeForm(),
    }
    if bound:
        out.update(bound)
    return out


def _render_session(request, session, bound=None, status=200, refused_alert=None):
    """The session screen. `refused_alert` is (alert id, its bound acknowledgement form)."""
    session.refresh_from_db()
    check = session.pre_dose_checks.order_by("-recorded_at", "-pk").first()
    plan = queries.monitoring_schedule()
    row = next(iter(queries.board(session_ids=[session.pk], plan=plan)), None)
    alerts = list(
        session.alerts.select_related("reading", "acknowledged_by").order_by("-raised_at", "-pk")
    )
    open_alerts = [a for a in alerts if gates.can_acknowledge_alert(a.acknowledged_at)]
    forms_by_alert = {a.pk: forms.acknowledge_form(a.pk) for a in open_alerts}
    if refused_alert is not None and refused_alert[0] in forms_by_alert:
        forms_by_alert[refused_alert[0]] = refused_alert[1]
    context = {
        "session": session,
        "patient": session.patient,
        "check": check,
        "check_result": actions.result_of(check) if check else None,
        "row": row,
        "timeline": queries.timeline(session),
        "next": next_step(session.status),
        "resume_to": resume_status(session.held_from) if session.status == S.HELD else None,
        "instructions": gates.DISCHARGE_INSTRUCTIONS,
        "can_override": has_permission(request.user, P.DOSING_OVERRIDE),
        "can_record": has_permission(request.user, P.DOSING_RECORD),
        "open_alerts": [(a, forms_by_alert[a.pk]) for a in open_alerts],
        "acknowledged_alerts": [a for a in alerts if not a.is_open][:10],
        "refused_alert": refused_alert[1] if refused_alert else None,
        "plan": plan,
        "cadss": row.cadss if row else [],
        "can_assess": has_permission(request.user, P.ASSESSMENT_RECORD),
        "S": {s.name: s.value for s in SessionStatus},
        **_step_forms(request, session, bound),
    }
    return render(request, "dosing/session.html", context, status=status)


@requires(P.PATIENT_VIEW_CLINICAL)
def session_detail(request, pk):
    session = _session(pk)
    record(
        actor=request.user,
        action="patient.view",
        target=session.patient,
        detail={"section": "dosing_session", "session": session.pk},
    )
    return _render_session(request, session)


def _do_status(request, session):
    form = forms.StatusForm(request.POST)
    form.is_valid()
    actions.change_status(
        by=request.user,
        session=session,
        status=form.cleaned_data.get("status", ""),
        reason=form.cleaned_data.get("reason", ""),
    )
    return "status_form", form, "Status changed."


def _do_predose(request, session):
    form = forms.PreDoseForm(request.POST)
    if not form.is_valid():
        raise _FormInvalid("predose_form", form)
    data = form.cleaned_data
    check = actions.record_pre_dose_check(
        by=request.user,
        session=session,
        escort_confirmed=data["escort_confirmed"],
        fasting_hours=data["fasting_hours"],
        weight_kg=data["weight_kg"],
        pregnancy_test=data["pregnancy_test"] or None,
        gad7_total=data["gad7_total"],
        phq9_item9=data["phq9_item9"],
        suicide_risk=data["suicide_risk"] or None,
        vital_signs={name: data[name] for name in forms.PreDoseForm.VITALS},
    )
    return "predose_form", form, f"Pre-dose check recorded: {check.get_outcome_display()}."


def _do_clear(request, session):
    form = forms.ClearForm(request.POST)
    form.is_valid()
    actions.clear_for_dosing(
        by=request.user, session=session, review_reason=form.cleaned_data.get("review_reason", "")
    )
    return "clear_form", form, "Cleared for dosing."


def _do_administration(request, session):
    form = forms.AdministrationForm(request.POST, site=session.site)
    if not form.is_valid():
        raise _FormInvalid("administration_form", form)
    data = form.cleaned_data
    actions.record_administration(by=request.user, session=session, **data)
    return "administration_form", form, "Dose recorded; monitoring has started."


def _do_vitals(request, session):
    form = forms.VitalsForm(request.POST)
    if not form.is_valid():
        raise _FormInvalid("vitals_form", form)
    actions.record_vitals(by=request.user, session=session, values=form.values())
    return "vitals_form", form, "Vitals recorded."


def _do_adverse(request, session):
    form = forms.AdverseEventForm(request.POST)
    if not form.is_valid():
        raise _FormInvalid("adverse_form", form)
    actions.record_adverse_event(by=request.user, session=session, **form.cleaned_data)
    return "adverse_form", form, "Adverse event recorded."


def _do_discharge(request, session):
    form = forms.DischargeForm(request.POST)
    if not form.is_valid():
        raise _FormInvalid("discharge_form", form)
    data = form.cleaned_data
    actions.discharge(
        by=request.user,
        session=session,
        aldrete=form.aldrete(),
        escort_present=data["escort_present"],
        instructions_acknowledged=data["instructions_acknowledged"],
        override_reason=data["override_reason"],
    )
    return "discharge_form", form, "Discharged."


class _FormInvalid(Exception):
    def __init__(self, name, form):
        self.name = name
        self.form = form


STEPS = {
    "status": (_do_status, forms.StatusForm, "status_form"),
    "pre-dose": (_do_predose, forms.PreDoseForm, "predose_form"),
    "clear": (_do_clear, forms.ClearForm, "clear_form"),
    "administration": (_do_administration, forms.AdministrationForm, "administration_form"),
    "vitals": (_do_vitals, forms.VitalsForm, "vitals_form"),
    "adverse-event": (_do_adverse, forms.AdverseEventForm, "adverse_form"),
    "discharge": (_do_discharge, forms.DischargeForm, "discharge_form"),
}


def _bound(form_class, data, session):
    if getattr(form_class, "takes_site", False):
        return form_class(data, site=session.site)
    return form_class(data)


@requires(P.DOSING_RECORD)
def session_step(request, pk, step):
    if step not in STEPS or request.method != "POST":
        raise Http404("no such step")
    session = _session(pk)
    handler, form_class, name = STEPS[step]
    try:
        _name, _form, message = handler(request, session)
    except _FormInvalid as invalid:
        bound = {invalid.name: invalid.form}
    except (InvalidInput, InvalidInputs) as error:
        form = _bound(form_class, request.POST, session)
        form.is_valid()
        apply_domain_errors(form, error)
        bound = {name: form}
    except DomainError as error:
        form = _bound(form_class, request.POST, session)
        form.is_valid()
        form.add_error(None, str(error))
        bound = {name: form}
    else:
        messages.success(request, message)
        return redirect("dosing_session", session.pk)
    record(
        actor=request.user,
        action="patient.view",
        target=session.patient,
        detail={"section": "dosing_session", "session": session.pk, "refused": step},
    )
    return _render_session(request, session, bound, status=422)


@requires(P.DOSING_RECORD)
def alert_acknowledge(request, pk, alert_pk):
    if request.method != "POST":
        raise Http404("acknowledged by posting the form")
    session = _session(pk)
    alert = get_object_or_404(VitalAlert, pk=alert_pk, session=session)
    form = forms.acknowledge_form(alert.pk, request.POST)
    if form.is_valid():
        try:
            actions.acknowledge_vital_alert(
                by=request.user, alert=alert, action_taken=form.cleaned_data["action_taken"]
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Alert acknowledged.")
            return redirect("dosing_session", session.pk)
    record(
        actor=request.user,
        action="patient.view",
        target=session.patient,
        detail={"section": "dosing_session", "session": session.pk, "refused": "acknowledge"},
    )
    return _render_session(request, session, status=422, refused_alert=(alert.pk, form))


def _board_context(request):
    plan = queries.monitoring_schedule()
    rows = queries.board(plan=plan)
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=[r.session.patient for r in rows],
        detail={"list": "dosing_board"},
    )
    return {"rows": rows, "now": timezone.now(), "plan": plan}


@requires(P.DOSING_RECORD)
def board(request):
    return render(request, "dosing/board.html", _board_context(request))


@requires(P.DOSING_RECORD)
def board_rows(request):
    return render(request, "dosing/_board_rows.html", _board_context(request))


def _note_context(session):
    started = session.dose_started_at
    ratings = (
        queries.cadss_ratings([session.patient_id], started).get(session.patient_id, [])
        if started
        else []
    )
    ended = session.discharged_at
    return {
        "cadss_ratings": [
            (r, int((r.answered_at - started).total_seconds() // 60))
            for r in ratings
            if ended is None or r.answered_at <= ended
        ],
        "session": session,
        "patient": session.patient,
        "timeline": queries.timeline(session),
        "administration": getattr(session, "administration", None),
        "discharge": getattr(session, "discharge", None),
        "rems": queries.rems_data(session),
        "checks": list(session.pre_dose_checks.all()),
        "events": list(session.adverse_events.all()),
    }


@requires(P.PATIENT_VIEW_CLINICAL)
def session_note(request, pk):
    session = _session(pk)
    record(
        actor=request.user,
        action="patient.view",
        target=session.patient,
        detail={"section": "dosing_note", "session": session.pk},
    )
    return render(request, "dosing/note.html", _note_context(session))


@requires(P.PATIENT_VIEW_CLINICAL)
def session_note_pdf(request, pk):
    from weasyprint import HTML  # loaded on first export: it pulls in Pango and fonts

    session = _session(pk)
    record(
        actor=request.user,
        action="patient.export",
        target=session.patient,
        detail={"section": "dosing_note", "session": session.pk, "format": "pdf"},
    )
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    html = render_to_string("dosing/pdf/note.html", _note_context(session))
    response = HttpResponse(HTML(string=html).write_pdf(), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="dosing-session-{session.pk}.pdf"'
    return response


urlpatterns = [
    path("sessions/", session_list, name="dosing_sessions"),
    path("sessions/new/", session_new, name="dosing_session_new"),
    path("sessions/<int:pk>/", session_detail, name="dosing_session"),
    path("sessions/<int:pk>/note/", session_note, name="dosing_note"),
    path("sessions/<int:pk>/note.pdf", session_note_pdf, name="dosing_note_pdf"),
    path(
        "sessions/<int:pk>/alerts/<int:alert_pk>/acknowledge/",
        alert_acknowledge,
        name="dosing_alert_acknowledge",
    ),
    path("sessions/<int:pk>/<slug:step>/", session_step, name="dosing_step"),
    path("board/", board, name="dosing_board"),
    path("board/rows/", board_rows, name="dosing_board_rows"),
]
