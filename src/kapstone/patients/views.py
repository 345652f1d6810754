from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import floatformat
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.assessments.queries import chart_scores_read
from kapstone.audit.recording import record, record_reads
from kapstone.clinical import units
from kapstone.core import reversing
from kapstone.core.forms import apply_domain_errors
from kapstone.core.models import Organization
from kapstone.core.permissions import has_permission, requires
from kapstone.core.prepared import Reads
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import queries as integration_queries
from kapstone.patients import actions, forms, queries
from kapstone.patients.models import (
    Diagnosis,
    MedicationStatement,
    MedicationTrial,
    Patient,
    PsychotherapyCourse,
)

PAGE_SIZE = queries.SEARCH_PAGE_SIZE


@requires(P.PATIENT_VIEW_DEMOGRAPHICS)
def patient_list(request):
    query = request.GET.get("q", "").strip()
    number = request.GET.get("page")
    page = Paginator(queries.SearchResults(query, number), PAGE_SIZE).get_page(number)
    shown = list(page.object_list)
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=shown,
        detail={"searched": bool(query)},
    )
    # The rows as plain strings: the template resolving model attributes, reversing a URL and
    # formatting a date per row took four times as long to render the same HTML.
    rows = [
        {
            "url": reversing.url("patient_chart", p.pk),
            "name": p.sorted_name + (f" ({p.preferred_name})" if p.preferred_name else ""),
            "record_number": p.record_number,
            "date_of_birth": p.date_of_birth.isoformat(),
            "site": p.home_site.name if p.home_site else "",
        }
        for p in shown
    ]
    context = {"page": page, "patients": shown, "rows": rows, "query": query}
    template = "patients/_results.html" if request.htmx else "patients/list.html"
    return render(request, template, context)


@requires(P.PATIENT_REGISTER)
def patient_new(request):
    form = forms.RegisterPatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = actions.register_patient(by=request.user, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Registered {patient.full_name} as {patient.record_number}.")
            return redirect("patient_chart", pk=patient.pk)
    return render(
        request,
        "patients/form.html",
        {"form": form, "title": "Register a patient", "cancel": reverse("patient_list")},
        status=422 if form.errors else 200,
    )


@requires(P.PATIENT_VIEW_DEMOGRAPHICS)
def patient_chart(request, pk):
    user = request.user
    clinical = has_permission(user, P.PATIENT_VIEW_CLINICAL)
    # Every query the chart needs goes together: one round trip on PostgreSQL.
    reads = Reads()
    patient_of = queries.chart_read(reads, pk)
    if clinical:
        organization_of = queries.organization_read(reads)
        scores_of = chart_scores_read(reads, pk)
        practice_of = integration_queries.chart_practice_read(reads, pk)
    try:
        patient = patient_of()
    except Patient.DoesNotExist:
        raise Http404("no such patient") from None
    sections = ["demographics"]
    context = {"patient": patient}
    if clinical:
        sections.append("clinical")
        config = organization_of().config
        weight = queries.latest(patient.recent_measurements, "weight_kg")
        height = queries.latest(patient.recent_measurements, "height_cm")
        context.update(
            weight=weight,
            weight_lb=units.kg_to_lb(weight.weight_kg) if weight else None,
            height=height,
            height_in=units.cm_to_in(height.height_cm) if height else None,
            bmi=units.body_mass_index(weight.weight_kg, height.height_cm)
            if weight and height
            else None,
            resistance=queries.resistance_summary(patient, config),
            **_history_rows(patient),
            scores=scores_of(config.outcome_overrides),
            practice=practice_of(),
        )
    if has_permission(user, P.PATIENT_VIEW_DIAGNOSES):
        sections.append("diagnoses")
    record(actor=user, action="patient.view", target=patient, detail={"sections": sections})
    context["sections"] = set(sections)
    return render(request, "patients/chart.html", context)


def _labels(model, field: str) -> dict[str, str]:
    return {value: str(label) for value, label in model._meta.get_field(field).flatchoices}


_TRIAL_CLASS = _labels(MedicationTrial, "drug_class")
_TRIAL_RESPONSE = _labels(MedicationTrial, "response")
_COURSE_MODALITY = _labels(PsychotherapyCourse, "modality")
_COURSE_RESPONSE = _labels(PsychotherapyCourse, "response")


def _history_rows(patient) -> dict[str, list[dict[str, str]]]:
    """The treatment history's tables as plain strings, as the list page does with its rows:
    the template resolving model attributes, choice labels and number formats per cell was
    about 40% of the chart's rendering."""
    trials = [
        {
            "drug": t.drug,
            "drug_class": _TRIAL_CLASS.get(t.drug_class, t.drug_class),
            "dose": f"{floatformat(t.max_daily_dose_mg, '-2')} mg/day"
            if t.max_daily_dose_mg
            else "",
            "weeks": str(t.weeks),
            "adequate": "yes" if t.adequate_dose else "no",
            "response": _TRIAL_RESPONSE.get(t.response, t.response),
            "side_effects": t.side_effects,
        }
        for t in patient.medication_trials.all()
    ]
    courses = [
        {
            "modality": _COURSE_MODALITY.get(c.modality, c.modality),
            "sessions": str(c.sessions),
            "response": _COURSE_RESPONSE.get(c.response, c.response),
            "ended": c.ended_on.strftime("%Y-%m") if c.ended_on else "",
        }
        for c in patient.psychotherapy_courses.all()
    ]
    return {"trial_rows": trials, "course_rows": courses}


@requires(P.PATIENT_EDIT_DEMOGRAPHICS)
def patient_edit(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    initial = {name: getattr(patient, name) for name in actions.DEMOGRAPHIC_FIELDS}
    form = forms.DemographicsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            changed = actions.update_demographics(
                by=request.user, patient=patient, **form.cleaned_data
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Saved." if changed else "Nothing changed.")
            return redirect("patient_chart", pk=patient.pk)
    if form.errors or request.method != "POST":
        # Showing the edit form (again) shows the record's details: that is a read.
        record(actor=request.user, action="patient.view", target=patient, detail={"form": "edit"})
    return render(
        request,
        "patients/form.html",
        {
            "form": form,
            "patient": patient,
            "title": f"Edit details: {patient.full_name}",
            "cancel": reverse("patient_chart", args=[patient.pk]),
        },
        status=422 if form.errors else 200,
    )


@dataclass(frozen=True)
class ChartEntry:
    """One kind of thing added to a chart from its own small form."""

    slug: str
    title: str
    form: type
    action: object
    permission: P


ENTRIES = [
    ChartEntry(
        "measurement",
        "Record weight and height",
        forms.MeasurementForm,
        actions.record_measurement,
        P.PATIENT_EDIT_CLINICAL,
    ),
    ChartEntry(
        "contact",
        "Add a contact or escort",
        forms.ContactForm,
        actions.add_contact,
        P.PATIENT_EDIT_DEMOGRAPHICS,
    ),
    ChartEntry(
        "allergy", "Add an allergy", forms.AllergyForm, actions.add_allergy, P.PATIENT_EDIT_CLINICAL
    ),
    ChartEntry(
        "medication",
        "Add a current medication",
        forms.MedicationForm,
        actions.add_medication,
        P.PATIENT_EDIT_CLINICAL,
    ),
    ChartEntry(
        "diagnosis",
        "Add a diagnosis",
        forms.DiagnosisForm,
        actions.add_diagnosis,
        P.PATIENT_EDIT_DIAGNOSES,
    ),
    ChartEntry(
        "medication-trial",
        "Add a past medication trial",
        forms.MedicationTrialForm,
        actions.add_medication_trial,
        P.PATIENT_EDIT_CLINICAL,
    ),
    ChartEntry(
        "psychotherapy-course",
        "Add a past psychotherapy course",
        forms.PsychotherapyCourseForm,
        actions.add_psychotherapy_course,
        P.PATIENT_EDIT_CLINICAL,
    ),
]


def _entry_view(entry: ChartEntry):
    @requires(entry.permission)
    def view(request, pk):
        patient = get_object_or_404(Patient, pk=pk)
        form = entry.form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry.action(by=request.user, patient=patient, **form.cleaned_data)
            except (InvalidInput, InvalidInputs) as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, "Saved.")
                return redirect("patient_chart", pk=patient.pk)
        # The form's header names the patient, so showing it is a read of the record.
        record(
            actor=request.user, action="patient.view", target=patient, detail={"form": entry.slug}
        )
        context = {
            "form": form,
            "patient": patient,
            "title": entry.title,
            "cancel": reverse("patient_chart", args=[patient.pk]),
        }
        if entry.slug == "diagnosis":
            context["common_codes"] = Organization.current().config.common_diagnoses
        return render(request, "patients/form.html", context, status=422 if form.errors else 200)

    view.__name__ = f"add_{entry.slug.replace('-', '_')}"
    return view


@requires(P.PATIENT_EDIT_DIAGNOSES)
@require_POST
def diagnosis_resolve(request, pk, diagnosis_id):
    diagnosis = get_object_or_404(Diagnosis, pk=diagnosis_id, patient_id=pk)
    actions.resolve_diagnosis(by=request.user, diagnosis=diagnosis)
    messages.success(request, f"Diagnosis {diagnosis.code} marked resolved.")
    return redirect("patient_chart", pk=pk)


@requires(P.PATIENT_EDIT_CLINICAL)
@require_POST
def medication_stop(request, pk, medication_id):
    medication = get_object_or_404(MedicationStatement, pk=medication_id, patient_id=pk)
    try:
        actions.stop_medication(
            by=request.user, medication=medication, stopped_on=timezone.localdate()
        )
    except InvalidInput as error:
        messages.error(request, str(error))
    return redirect("patient_chart", pk=pk)


@requires(P.PATIENT_EDIT_CLINICAL)
@require_POST
def no_known_allergies(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    try:
        actions.record_no_known_allergies(by=request.user, patient=patient)
    except InvalidInput as error:
        messages.error(request, str(error))
    return redirect("patient_chart", pk=pk)


urlpatterns = [
    path("", patient_list, name="patient_list"),
    path("new/", patient_new, name="patient_new"),
    path("<int:pk>/", patient_chart, name="patient_chart"),
    path("<int:pk>/edit/", patient_edit, name="patient_edit"),
    path(
        "<int:pk>/diagnoses/<int:diagnosis_id>/resolve/",
        diagnosis_resolve,
        name="diagnosis_resolve",
    ),
    path("<int:pk>/medications/<int:medication_id>/stop/", medication_stop, name="medication_stop"),
    path("<int:pk>/no-known-allergies/", no_known_allergies, name="no_known_allergies"),
] + [
    path(f"<int:pk>/add/{entry.slug}/", _entry_view(entry), name=f"add_{entry.slug}")
    for entry in ENTRIES
]
