"""Staff enter a questionnaire: a clinician-rated scale, or the numbers from a licensed or
paper form the patient filled in."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.assessments.forms import AssessmentForm
from kapstone.audit.recording import record
from kapstone.clinical import instruments
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient


@requires(P.ASSESSMENT_RECORD)
def assessment_pick(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    record(actor=request.user, action="patient.view", target=patient, detail={"form": "assessment"})
    return render(
        request,
        "assessments/pick.html",
        {"patient": patient, "instruments": instruments.all_instruments()},
    )


@requires(P.ASSESSMENT_RECORD)
def assessment_new(request, pk, instrument):
    patient = get_object_or_404(Patient, pk=pk)
    try:
        inst = instruments.get(instrument)
    except InvalidInput:
        raise Http404("no such instrument") from None
    form = AssessmentForm(inst, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assessment = actions.record_assessment(
                by=request.user,
                patient=patient,
                instrument=inst.id,
                answers=form.answers(),
                answered_at=form.cleaned_data["answered_at"],
                timepoint=form.cleaned_data["timepoint"],
                context=form.context(),
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            alerts = list(assessment.alerts.all())
            if alerts:
                messages.error(
                    request,
                    f"{inst.short_name} saved. It raised an urgent alert: act on it now and "
                    "record what you did.",
                )
                return redirect("alert_detail", pk=alerts[0].pk)
            total = "no total (items missing)" if assessment.total is None else assessment.total
            band = f" ({assessment.band_label})" if assessment.band_label else ""
            messages.success(request, f"{inst.short_name} saved: {total}{band}.")
            return redirect("patient_chart", pk=patient.pk)
    # The form's header names the patient, so showing it is a read of the record.
    record(
        actor=request.user,
        action="patient.view",
        target=patient,
        detail={"form": f"assessment:{inst.id}"},
    )
    return render(
        request,
        "assessments/entry.html",
        {
            "form": form,
            "patient": patient,
            "instrument": inst,
            "title": f"Enter a {inst.short_name}",
            "cancel": reverse("patient_chart", args=[patient.pk]),
        },
        status=422 if form.errors else 200,
    )


urlpatterns = [
    path("patients/<int:pk>/assessments/new/", assessment_pick, name="assessment_pick"),
    path(
        "patients/<int:pk>/assessments/new/<slug:instrument>/",
        assessment_new,
        name="assessment_new",
    ),
]
