"""Integration therapy: a patient's sessions, recording one, and the therapist's process
notes (shown only to their author and those the author grants; reading one is audited)."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from kapstone.access.roles import Permission as P
from kapstone.access.roles import roles_with
from kapstone.audit.recording import record
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import has_permission, requires
from kapstone.dosing.models import DosingSession
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import actions, modalities, queries
from kapstone.integration.forms import GrantForm, IntegrationSessionForm, ProcessNoteForm
from kapstone.integration.models import IntegrationSession, ProcessNote
from kapstone.integration.practice_views import urlpatterns as practice_urlpatterns
from kapstone.patients.models import Patient


def _viewed(request, patient, **detail):
    record(actor=request.user, action="patient.view", target=patient, detail=detail)


def _session(pk, session_pk) -> IntegrationSession:
    return get_object_or_404(
        IntegrationSession.objects.select_related("patient", "therapist", "dosing_session"),
        pk=session_pk,
        patient_id=pk,
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def integration_history(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    sessions = list(IntegrationSession.objects.filter(patient=patient).select_related("therapist"))
    _viewed(request, patient, section="integration")
    return render(
        request,
        "integration/history.html",
        {
            "patient": patient,
            "sessions": sessions,
            "can_record": has_permission(request.user, P.INTEGRATION_RECORD),
        },
    )


@requires(P.INTEGRATION_RECORD)
def integration_pick(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    _viewed(request, patient, form="integration")
    return render(
        request,
        "integration/pick.html",
        {"patient": patient, "modalities": list(modalities.Modality)},
    )


def _dosing_choices(patient):
    sessions = DosingSession.objects.filter(patient=patient).order_by("-scheduled_start")[:20]
    return [(s.pk, f"{s.scheduled_start:%d %b %Y %H:%M}") for s in sessions]


@requires(P.INTEGRATION_RECORD)
def integration_new(request, pk, modality):
    patient = get_object_or_404(Patient, pk=pk)
    try:
        chosen = modalities.modality(modality)
    except InvalidInput:
        raise Http404("no such modality") from None
    form = IntegrationSessionForm(chosen, _dosing_choices(patient), request.POST or None)
    if request.method == "POST" and form.is_valid():
        dosing_pk = form.cleaned_data["dosing_session"]
        try:
            session = actions.record_integration_session(
                by=request.user,
                patient=patient,
                modality=chosen.value,
                started_at=form.cleaned_data["started_at"],
                minutes=form.cleaned_data["minutes"],
                details=form.details(),
                dosing_session=DosingSession.objects.filter(pk=dosing_pk).first()
                if dosing_pk
                else None,
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, form.form_errors(error))
        else:
            messages.success(request, f"{chosen.label} session saved.")
            return redirect("integration_session", pk=patient.pk, session_pk=session.pk)
    _viewed(request, patient, form=f"integration:{chosen.value}")
    return render(
        request,
        "integration/new.html",
        {
            "form": form,
            "patient": patient,
            "title": f"Record an integration session: {chosen.label}",
            "cancel": reverse("integration_history", args=[patient.pk]),
        },
        status=422 if form.errors else 200,
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def integration_session(request, pk, session_pk):
    session = _session(pk, session_pk)
    notes = queries.readable_notes(request.user, session)
    if notes:
        # Reading a process note is its own event, naming the notes read (never their text).
        record(
            actor=request.user,
            action="process_note.read",
            target=session,
            patient=session.patient,
            detail={"notes": [note.pk for note in notes]},
        )
    else:
        _viewed(request, session.patient, section="integration", session=session.pk)
    return render(
        request,
        "integration/session.html",
        {
            "patient": session.patient,
            "session": session,
            "notes": notes,
            "can_record": has_permission(request.user, P.INTEGRATION_RECORD),
        },
    )


@requires(P.INTEGRATION_RECORD)
def process_note_new(request, pk, session_pk):
    session = _session(pk, session_pk)
    form = ProcessNoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.write_process_note(
                by=request.user, session=session, text=form.cleaned_data["text"]
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Process note saved. Only you can read it.")
            return redirect("integration_session", pk=pk, session_pk=session.pk)
    _viewed(request, session.patient, form="process_note", session=session.pk)
    return render(
        request,
        "integration/note.html",
        {"form": form, "patient": session.patient, "session": session},
        status=422 if form.errors else 200,
    )


def _grantee_choices(author):
    clinicians = (
        get_user_model()
        .objects.filter(is_active=True, role_rows__role__in=roles_with(P.PATIENT_VIEW_CLINICAL))
        .exclude(pk=author.pk)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [(person.pk, person.display_name) for person in clinicians]


@requires(P.INTEGRATION_RECORD)
def process_note_access(request, pk, session_pk):
    """Who may read the notes you wrote on this session, and granting one more person."""
    session = _session(pk, session_pk)
    own = queries.own_notes(request.user, session)
    choices = [(note.pk, f"Note of {note.created_at:%d %b %Y %H:%M}") for note in own]
    if request.method == "POST" and "revoke" in request.POST:
        return _revoke(request, session, own)
    form = GrantForm(choices, _grantee_choices(request.user), request.POST or None)
    if request.method == "POST" and form.is_valid():
        note = ProcessNote.objects.filter(pk=form.cleaned_data["note"], session=session).first()
        grantee = get_user_model().objects.filter(pk=form.cleaned_data["grantee"]).first()
        try:
            if note is None:
                raise InvalidInput("note", "can be shared only by its author")
            actions.grant_process_note(by=request.user, note=note, grantee=grantee)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Granted: they can now read that note.")
            return redirect("integration_session", pk=pk, session_pk=session.pk)
    _viewed(request, session.patient, form="process_note_access", session=session.pk)
    return render(
        request,
        "integration/access.html",
        {"form": form, "patient": session.patient, "session": session, "own": own},
        status=422 if form.errors else 200,
    )


def _revoke(request, session, own):
    grants = {str(grant.pk): grant for note in own for grant in note.open_grants}
    grant = grants.get(request.POST.get("revoke", ""))
    if grant is None:
        # Not one of your own open grants: said the same way whether or not it exists.
        messages.error(request, "Nothing was saved: only the author withdraws a grant.")
    else:
        actions.revoke_process_note_grant(by=request.user, grant=grant)
        messages.success(request, "Withdrawn: they can no longer read that note.")
    return redirect("process_note_access", pk=session.patient_id, session_pk=session.pk)


urlpatterns = [
    path("patients/<int:pk>/integration/", integration_history, name="integration_history"),
    path("patients/<int:pk>/integration/new/", integration_pick, name="integration_pick"),
    path(
        "patients/<int:pk>/integration/new/<slug:modality>/",
        integration_new,
        name="integration_new",
    ),
    path(
        "patients/<int:pk>/integration/<int:session_pk>/",
        integration_session,
        name="integration_session",
    ),
    path(
        "patients/<int:pk>/integration/<int:session_pk>/note/",
        process_note_new,
        name="process_note_new",
    ),
    path(
        "patients/<int:pk>/integration/<int:session_pk>/note/access/",
        process_note_access,
        name="process_note_access",
    ),
]


# Home practice (kapstone.integration.practice_views).
urlpatterns += practice_urlpatterns
