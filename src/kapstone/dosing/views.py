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
from kapstone.dosing.models import DosingSession
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


@requires(P.PATIENT_EDIT_CLINICAL)
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
                return redirect("dosing_session", session.pk)
    return render(request, "dosing/new.html", {"form": form}, status=422 if form.errors else 200)


def _step_forms(request, session, bound=None) -> dict:
    """The forms the session's current step offers; `bound` replaces one with its errors."""
    now = timezone.localtime().replace(second=0, microsecond=0)
    out = {
        "status_form": forms.StatusForm(),
        "predose_form": forms.PreDoseForm(initial={"escort_confirmed": False}),
        "clear_form": forms.ClearForm(),
        "administration_form": forms.AdministrationForm(
            initial={"started_at": now, "stopped_at": now, "route": session.route or None}
        ),
        "vitals_form": forms.VitalsForm(),
        "adverse_form": forms.AdverseEventForm(),
        "discharge_form": forms.DischargeForm(),
    }
    if bound:
        out.update(bound)
    return out


def _render_session(request, session, bound=None, status=200):
    session.refresh_from_db()
    check = session.pre_dose_checks.order_by("-recorded_at", "-pk").first()
    row = next(iter(queries.board(session_ids=[session.pk])), None)
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
        "alerts": list(session.alerts.select_related("reading").order_by("-raised_at")[:10]),
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
    form = forms.AdministrationForm(request.POST)
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
        form = form_class(request.POST)
        form.is_valid()
        apply_domain_errors(form, error)
        bound = {name: form}
    except DomainError as error:
        form = form_class(request.POST)
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


def _board_context(request):
    rows = queries.board()
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=[r.session.patient for r in rows],
        detail={"list": "dosing_board"},
    )
    return {"rows": rows, "now": timezone.now(), "interval": queries.VITALS_INTERVAL_MINUTES}


@requires(P.DOSING_RECORD)
def board(request):
    return render(request, "dosing/board.html", _board_context(request))


@requires(P.DOSING_RECORD)
def board_rows(request):
    return render(request, "dosing/_board_rows.html", _board_context(request))


def _note_context(session):
    return {
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
    path("sessions/<int:pk>/<slug:step>/", session_step, name="dosing_step"),
    path("board/", board, name="dosing_board"),
    path("board/rows/", board_rows, name="dosing_board_rows"),
]
