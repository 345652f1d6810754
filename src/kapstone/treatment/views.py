"""Eligibility screening, consent and treatment plans: the staff pages.

Every page names the patient, so showing it is a read of the record (one ``patient.view``);
every write is an action, audited there.
"""

from dataclasses import dataclass
from types import SimpleNamespace

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.assessments.models import Assessment
from kapstone.audit.recording import record
from kapstone.clinical import dose as dosing
from kapstone.clinical import eligibility, pk, presentation, protocols
from kapstone.clinical import treatment_plan as plan_rules
from kapstone.clinical.treatment_history import PsychotherapyModality
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import has_permission, requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient
from kapstone.treatment import actions, exposure_picture
from kapstone.treatment.actions import clinic_overrides
from kapstone.treatment.forms import (
    ConsentForm,
    DiscardPlanForm,
    OverrideForm,
    PlanForm,
    PresentationForm,
    ScreeningForm,
    WithdrawConsentForm,
    plan_initial,
)
from kapstone.treatment.models import Consent, Screening, TreatmentPlan

INVALID = (InvalidInput, InvalidInputs)


def _viewed(request, patient: Patient, page: str) -> None:
    record(actor=request.user, action="patient.view", target=patient, detail={"page": page})


# ---------------------------------------------------------------------------------------------
# Overview


def _overview_page(request, patient, withdraw_form=None, status=200):
    _viewed(request, patient, "treatment")
    consent = actions.latest_consent(patient)
    return render(
        request,
        "treatment/overview.html",
        {
            "patient": patient,
            "screenings": patient.screenings.select_related("screened_by", "overridden_by"),
            "plans": patient.treatment_plans.select_related("drafted_by", "signed_by"),
            "consent": consent,
            "consent_form_version": actions.consent_form_version(),
            "consent_form": ConsentForm(),
            "can_withdraw": consent is not None and actions.can_withdraw_consent(consent),
            "withdraw_form": withdraw_form or WithdrawConsentForm(),
            "profile": anxiety_profile(patient),
            "review": actions.latest_presentation(patient),
        },
        status=status,
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def treatment_overview(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    return _overview_page(request, patient)


# ---------------------------------------------------------------------------------------------
# Screening


@requires(P.SCREENING_RECORD)
def screening_new(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    rule_set = eligibility.rule_set(overrides=clinic_overrides("eligibility"))
    form = ScreeningForm(rule_set, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            screening = actions.screen_patient(
                by=request.user,
                patient=patient,
                answers=form.answers(),
                blood_pressure=form.blood_pressure(),
            )
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Screening saved: {screening.outcome_label}.")
            return redirect("screening_detail", pk=patient.pk, screening_pk=screening.pk)
    _viewed(request, patient, "screening:new")
    return render(
        request,
        "treatment/screening_form.html",
        {
            "patient": patient,
            "form": form,
            "rule_set": rule_set,
            "facts": actions.facts_from_record(patient, answers={}),
            "cancel": reverse("treatment_overview", args=[patient.pk]),
        },
        status=422 if form.errors else 200,
    )


@dataclass(frozen=True)
class FindingRow:
    label: str
    kind: str
    source: str
    met_by: list
    needs: list
    unconfirmed: bool


def _needs_text(needs: list[str], rule_set_version: str) -> list[str]:
    try:
        rule_set = eligibility.rule_set(rule_set_version, overrides=clinic_overrides("eligibility"))
    except INVALID:
        return needs
    texts = []
    for need in needs:
        try:
            texts.append(rule_set.question(need).text)
        except KeyError:
            texts.append(FACT_NAMES.get(need, need))
    return texts


FACT_NAMES = {
    "diagnosis_codes": "Active diagnoses (record)",
    "allergies": "Allergies, or 'no known allergies' (record)",
    "current_drug_classes": "Current medicines (record)",
    "blood_pressure": "Today's blood pressure",
    "sex_at_birth": "Sex at birth (record)",
    "has_escort": "An escort (record: contacts)",
    "auditc": "An AUDIT-C score",
    "dast10": "A DAST-10 score",
}


def _screening_page(request, patient, screening, form=None, status=200):
    _viewed(request, patient, "screening")
    rows = [
        FindingRow(
            f["label"],
            eligibility.Kind(f["kind"]).label,
            f["source"],
            f["met_by"],
            _needs_text(f["needs"], screening.rule_set_version),
            f["unconfirmed"],
        )
        for f in screening.findings
    ]
    met = [row for row, f in zip(rows, screening.findings, strict=True) if f["status"] == "met"]
    unanswered = [
        row for row, f in zip(rows, screening.findings, strict=True) if f["status"] == "unknown"
    ]
    can_override = not screening.overridden and eligibility.can_override(
        screening.outcome, request.user.roles
    )
    return render(
        request,
        "treatment/screening.html",
        {
            "patient": patient,
            "screening": screening,
            "reasons": sorted(met, key=lambda row: row.kind != "Contraindication"),
            "unanswered": unanswered,
            "can_override": can_override,
            "form": form or (OverrideForm() if can_override else None),
        },
        status=status,
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def screening_detail(request, pk, screening_pk):
    patient = get_object_or_404(Patient, pk=pk)
    screening = get_object_or_404(
        Screening.objects.select_related("screened_by", "overridden_by"),
        pk=screening_pk,
        patient=patient,
    )
    return _screening_page(request, patient, screening)


@requires(P.ELIGIBILITY_OVERRIDE)
@require_POST
def screening_override(request, pk, screening_pk):
    patient = get_object_or_404(Patient, pk=pk)
    screening = get_object_or_404(Screening, pk=screening_pk, patient=patient)
    form = OverrideForm(request.POST)
    if form.is_valid():
        try:
            actions.override_eligibility(
                by=request.user, screening=screening, reason=form.cleaned_data["reason"]
            )
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Override recorded.")
            return redirect("screening_detail", pk=patient.pk, screening_pk=screening.pk)
    return _screening_page(request, patient, screening, form=form, status=422)


# ---------------------------------------------------------------------------------------------
# Consent


@requires(P.PLAN_DRAFT)
@require_POST
def consent_record(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            actions.record_consent(
                by=request.user,
                patient=patient,
                form_version=actions.consent_form_version(),
                consented_at=form.cleaned_data["consented_at"],
            )
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Consent recorded.")
            return redirect("treatment_overview", pk=patient.pk)
    _viewed(request, patient, "consent")
    return render(
        request,
        "treatment/consent_form.html",
        {
            "patient": patient,
            "form": form,
            "consent_form_version": actions.consent_form_version(),
        },
        status=422,
    )


@requires(P.PLAN_DRAFT)
@require_POST
def consent_withdraw(request, pk, consent_pk):
    patient = get_object_or_404(Patient, pk=pk)
    consent = get_object_or_404(Consent, pk=consent_pk, patient=patient)
    form = WithdrawConsentForm(request.POST)
    if form.is_valid():
        try:
            actions.withdraw_consent(
                by=request.user, consent=consent, reason=form.cleaned_data["reason"]
            )
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Withdrawal of consent recorded.")
            return redirect("treatment_overview", pk=patient.pk)
    return _overview_page(request, patient, withdraw_form=form, status=422)


# ---------------------------------------------------------------------------------------------
# Presentation


def _presentation_page(request, patient, form=None, status=200):
    _viewed(request, patient, "presentation")
    rule_set = presentation.rules()
    review = actions.latest_presentation(patient)
    if form is None and has_permission(request.user, P.SCREENING_RECORD):
        form = PresentationForm(
            rule_set,
            initial={
                "ticked": [i for i, yes in actions.presentation_checklist(patient).items() if yes]
            },
        )
    profile = anxiety_profile(patient)
    return render(
        request,
        "treatment/presentation.html",
        {
            "patient": patient,
            "profile": profile,
            "features": _features(profile, rule_set),
            "review": review,
            "rule_set": rule_set,
            "form": form,
        },
        status=status,
    )


def _features(profile, rule_set) -> list[tuple[str, str]]:
    """The checklist items that name no domain (trauma origin, imagery, parts), in words."""
    if profile is None:
        return []
    answer = {True: "Yes", False: "No", None: "Not known"}
    return [
        (item.label, answer[profile.features.get(item.id)])
        for item in rule_set.checklist
        if item.domain is None
    ]


@requires(P.PATIENT_VIEW_CLINICAL)
def presentation_page(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    return _presentation_page(request, patient)


@requires(P.SCREENING_RECORD)
@require_POST
def presentation_record(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = PresentationForm(presentation.rules(), request.POST)
    if form.is_valid():
        try:
            actions.record_presentation(
                by=request.user,
                patient=patient,
                ticked=form.cleaned_data["ticked"],
                note=form.cleaned_data["note"],
            )
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Presentation checklist recorded.")
            return redirect("presentation", pk=patient.pk)
    return _presentation_page(request, patient, form=form, status=422)


# ---------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class StartingDose:
    label: str
    range_text: str
    source: str
    mg: object
    volumes: list  # (mg/mL, mL)
    note: str


def starting_doses(library: protocols.Library, weight) -> list[StartingDose]:
    """Each route's starting dose at this weight, in mg and, drawn up, in mL."""
    rows = []
    for rule in library.routes.values():
        by_weight = rule.basis is protocols.Basis.MG_PER_KG
        try:
            dose = dosing.starting_dose(rule, weight_kg=weight if by_weight else None)
        except InvalidInput:
            rows.append(
                StartingDose(
                    rule.label, rule.range_text, rule.dose_source, None, [], "Weight needed"
                )
            )
            continue
        volumes = []
        if rule.form is protocols.Form.SOLUTION:
            for strength in library.stock_strengths_mg_per_ml:
                drawn = dosing.starting_dose(
                    rule,
                    weight_kg=weight if by_weight else None,
                    concentration_mg_per_ml=strength,
                    volume_step_ml=library.volume_step_ml,
                )
                volumes.append((strength, drawn.volume_ml, drawn.mg))
        note = f"{dose.devices} devices" if dose.devices else ""
        rows.append(
            StartingDose(rule.label, rule.range_text, rule.dose_source, dose.mg, volumes, note)
        )
    return rows


def anxiety_profile(patient: Patient) -> presentation.Profile | None:
    """How far the anxiety is cognitive, somatic or behavioral from the latest scores and the
    clinician's latest presentation checklist, and the integration modalities it points to,
    each with its reasons (None: nothing to go on)."""
    latest = {}
    for row in Assessment.objects.filter(patient=patient, complete=True).order_by(
        "answered_at", "pk"
    ):
        latest[row.instrument] = SimpleNamespace(
            instrument=row.instrument, total=row.total, subscales=row.subscales or {}
        )
    rules = presentation.rules()
    inputs = presentation.inputs_from_scores(latest.values())
    known = {
        m: v
        for m, v in inputs.measures.items()
        if not presentation.validate_inputs(presentation.PresentationInputs({m: v}), rules)
    }
    checklist = actions.presentation_checklist(patient)
    try:
        return presentation.profile(presentation.PresentationInputs(known, checklist), rules)
    except INVALID:
        return None


def _plan_form_page(request, patient, form, plan=None):
    library = protocols.library(overrides=clinic_overrides("protocols"))
    weight = actions.latest_weight_kg(patient)
    _viewed(request, patient, "plan:edit" if plan else "plan:new")
    return render(
        request,
        "treatment/plan_form.html",
        {
            "patient": patient,
            "plan": plan,
            "form": form,
            "library": library,
            "weight": weight,
            "starting_doses": starting_doses(library, weight),
            "profile": (profile := anxiety_profile(patient)),
            "suggestions": list(profile.suggestions) if profile else [],
            "title": f"Edit draft plan, version {plan.version}"
            if plan
            else "Draft a treatment plan",
            "cancel": reverse("treatment_overview", args=[patient.pk]),
        },
        status=422 if form.errors else 200,
    )


@requires(P.PLAN_DRAFT)
def plan_new(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = PlanForm(
        protocols.library(overrides=clinic_overrides("protocols")),
        actions.other_prescribers(request.user),
        request.POST or None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            plan = actions.draft_plan(by=request.user, patient=patient, **form.content())
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Draft plan version {plan.version} saved.")
            return redirect("plan_detail", pk=patient.pk, plan_pk=plan.pk)
    return _plan_form_page(request, patient, form)


@requires(P.PLAN_DRAFT)
def plan_edit(request, pk, plan_pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = get_object_or_404(TreatmentPlan, pk=plan_pk, patient=patient)
    form = PlanForm(
        protocols.library(overrides=clinic_overrides("protocols")),
        actions.other_prescribers(request.user),
        request.POST or None,
        initial=plan_initial(plan),
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.amend_plan(by=request.user, plan=plan, **form.content())
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Draft plan version {plan.version} saved.")
            return redirect("plan_detail", pk=patient.pk, plan_pk=plan.pk)
    return _plan_form_page(request, patient, form, plan)


@dataclass(frozen=True)
class Exposure:
    label: str
    mg: float
    this_plan: bool
    peak_ng_ml: float
    time_to_peak_min: float
    auc_ng_h_per_ml: float
    curve: exposure_picture.Curve | None = None


def route_comparison(
    plan: TreatmentPlan, weight, library: protocols.Library
) -> tuple[list[Exposure], tuple[str, ...]]:
    """The plan's dose and each other route's starting dose, simulated: estimates."""
    if weight is None:
        return [], ()
    pk_data = pk.data(clinic_overrides("pk"))
    planned = []
    for rule in library.routes.values():
        if rule.route.value == plan.route:
            mg, minutes, devices = plan.dose_mg, plan.infusion_minutes, plan.devices
        else:
            try:
                dose = dosing.starting_dose(
                    rule, weight_kg=weight if rule.basis is protocols.Basis.MG_PER_KG else None
                )
            except InvalidInput:
                continue
            mg, minutes, devices = dose.mg, dose.infusion_minutes, dose.devices
        planned.append(
            (
                rule,
                pk.Planned(
                    rule.route.value,
                    float(mg),
                    infusion_minutes=minutes,
                    devices=devices,
                    device_rest_minutes=float(rule.device_rest_minutes or 0),
                ),
            )
        )
    rows, assumptions = [], ()
    for rule, one in planned:
        try:
            (result,) = pk.compare_routes([one], float(weight), pk=pk_data)
        except InvalidInput:
            continue
        rows.append(
            Exposure(
                rule.label,
                one.mg,
                rule.route.value == plan.route,
                result.peak_ng_ml,
                result.time_to_peak_min,
                result.auc_inf_ng_h_per_ml,
                exposure_picture.Curve(
                    rule.label,
                    result.simulation.times_min,
                    result.simulation.concentrations_ng_ml,
                    rule.route.value == plan.route,
                ),
            )
        )
        if rule.route.value == plan.route:
            assumptions = result.simulation.assumptions
    rows.sort(key=lambda row: not row.this_plan)
    return rows, assumptions


def _plan_page(request, patient, plan, errors=(), status=200, discard_form=None):
    _viewed(request, patient, "plan")
    user = request.user
    weight = plan.weight_kg or actions.latest_weight_kg(patient)
    library = protocols.library(plan.library_version, overrides=clinic_overrides("protocols"))
    exposures, assumptions = route_comparison(plan, weight, library)
    sign_problems = []
    if plan.status == plan_rules.PlanStatus.DRAFT and has_permission(user, P.PLAN_SIGN):
        try:
            actions.sign_gate(plan, user)
        except InvalidInputs as error:
            sign_problems = [str(e) for e in error.errors]
        except InvalidInput as error:
            sign_problems = [str(error)]
    return render(
        request,
        "treatment/plan.html",
        {
            "patient": patient,
            "plan": plan,
            "rule": library.route(plan.route),
            "program": library.program(plan.program),
            "modalities": [PsychotherapyModality(m).label for m in plan.modalities],
            "consent": actions.latest_consent(patient),
            "consent_form_version": actions.consent_form_version(),
            "can_sign": plan.status == "draft" and has_permission(user, P.PLAN_SIGN),
            "can_discard": has_permission(user, P.PLAN_DRAFT)
            and actions.can_discard(plan, user.roles),
            "discard_form": discard_form or DiscardPlanForm(),
            "can_edit": plan.status == "draft" and has_permission(user, P.PLAN_DRAFT),
            "can_revise": plan.status == "signed" and has_permission(user, P.PLAN_DRAFT),
            "sign_problems": sign_problems,
            "errors": errors,
            "exposures": exposures,
            "exposure_svg": exposure_picture.svg([row.curve for row in exposures])
            if exposures
            else "",
            "assumptions": assumptions,
            "weight": weight,
        },
        status=status,
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def plan_detail(request, pk, plan_pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = get_object_or_404(
        TreatmentPlan.objects.select_related(
            "drafted_by", "signed_by", "dose_override_by", "dose_cosigned_by"
        ),
        pk=plan_pk,
        patient=patient,
    )
    return _plan_page(request, patient, plan)


@requires(P.PLAN_SIGN)
@require_POST
def plan_sign(request, pk, plan_pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = get_object_or_404(TreatmentPlan, pk=plan_pk, patient=patient)
    try:
        actions.sign_plan(by=request.user, plan=plan)
    except INVALID as error:
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        return _plan_page(request, patient, plan, [str(e) for e in errors], status=422)
    messages.success(request, f"Plan version {plan.version} signed.")
    return redirect("plan_detail", pk=patient.pk, plan_pk=plan.pk)


@requires(P.PLAN_DRAFT)
@require_POST
def plan_revise(request, pk, plan_pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = get_object_or_404(TreatmentPlan, pk=plan_pk, patient=patient)
    try:
        draft = actions.revise_plan(by=request.user, plan=plan)
    except INVALID as error:
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        return _plan_page(request, patient, plan, [str(e) for e in errors], status=422)
    messages.success(request, f"Draft version {draft.version} made from version {plan.version}.")
    return redirect("plan_detail", pk=patient.pk, plan_pk=draft.pk)


@requires(P.PLAN_DRAFT)
@require_POST
def plan_discard(request, pk, plan_pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = get_object_or_404(TreatmentPlan, pk=plan_pk, patient=patient)
    form = DiscardPlanForm(request.POST)
    if form.is_valid():
        try:
            actions.discard_plan(by=request.user, plan=plan, reason=form.cleaned_data["reason"])
        except INVALID as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Draft plan version {plan.version} discarded.")
            return redirect("plan_detail", pk=patient.pk, plan_pk=plan.pk)
    errors = [str(e) for e in form.non_field_errors()]
    return _plan_page(request, patient, plan, errors, status=422, discard_form=form)


urlpatterns = [
    path("patients/<int:pk>/treatment/", treatment_overview, name="treatment_overview"),
    path("patients/<int:pk>/screening/new/", screening_new, name="screening_new"),
    path(
        "patients/<int:pk>/screening/<int:screening_pk>/",
        screening_detail,
        name="screening_detail",
    ),
    path(
        "patients/<int:pk>/screening/<int:screening_pk>/override/",
        screening_override,
        name="screening_override",
    ),
    path("patients/<int:pk>/consent/", consent_record, name="consent_record"),
    path(
        "patients/<int:pk>/consent/<int:consent_pk>/withdraw/",
        consent_withdraw,
        name="consent_withdraw",
    ),
    path("patients/<int:pk>/presentation/", presentation_page, name="presentation"),
    path(
        "patients/<int:pk>/presentation/record/",
        presentation_record,
        name="presentation_record",
    ),
    path("patients/<int:pk>/plans/new/", plan_new, name="plan_new"),
    path("patients/<int:pk>/plans/<int:plan_pk>/", plan_detail, name="plan_detail"),
    path("patients/<int:pk>/plans/<int:plan_pk>/edit/", plan_edit, name="plan_edit"),
    path("patients/<int:pk>/plans/<int:plan_pk>/sign/", plan_sign, name="plan_sign"),
    path("patients/<int:pk>/plans/<int:plan_pk>/revise/", plan_revise, name="plan_revise"),
    path("patients/<int:pk>/plans/<int:plan_pk>/discard/", plan_discard, name="plan_discard"),
]
