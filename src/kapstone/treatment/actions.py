"""Every write to screenings, consent and treatment plans goes through these functions.

Each checks who is acting, validates every field at once (naming the field and the rule,
never the value), writes in one transaction and records one audit event. The rules are
kapstone.clinical: eligibility screens, dose does the arithmetic and the range check,
treatment_plan holds the plan's transition table and its sign-off gates.
"""

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from kapstone.access.roles import Permission, Role
from kapstone.assessments.models import Assessment
from kapstone.audit.recording import record
from kapstone.clinical import dose as dosing
from kapstone.clinical import eligibility, presentation, protocols
from kapstone.clinical import treatment_plan as rules
from kapstone.clinical.eligibility import BloodPressure, ScreeningFacts
from kapstone.clinical.gates import MAX_REASON_CHARS, Refused, check_reason
from kapstone.core.models import Organization
from kapstone.core.permissions import check_permission
from kapstone.errors import FieldErrors, InvalidInput
from kapstone.patients.models import Patient
from kapstone.treatment.models import Consent, PresentationReview, Screening, TreatmentPlan

# The instruments screening reads from the record: the latest complete score of each.
SCREENING_INSTRUMENTS = ("auditc", "dast10")


class _Errors(FieldErrors):
    def raise_any(self):
        # A single dose refusal keeps its own type, so the page can offer the override.
        if len(self.errors) == 1 and isinstance(self.errors[0], dosing.DoseOutOfRange):
            raise self.errors[0]
        super().raise_any()


# ---------------------------------------------------------------------------------------------
# Screening


def clinic_overrides(section: str) -> dict | None:
    """The clinic's changes to the eligibility rules, the protocol library or the PK data."""
    return Organization.current().config.overrides_for(section)


def consent_form_version() -> str:
    """The consent form in use, from the clinic's settings (``[consent] form_version``).
    Consent given to an earlier version does not cover a plan signed after the form changed
    (treatment_plan.check_consent), nor a dose."""
    return Organization.current().config.consent_form_version


def latest_weight_kg(patient: Patient) -> Decimal | None:
    return (
        patient.measurements.filter(weight_kg__isnull=False)
        .order_by("-measured_at", "-pk")
        .values_list("weight_kg", flat=True)
        .first()
    )


def facts_from_record(
    patient: Patient,
    *,
    answers: Mapping[str, bool | None],
    blood_pressure: BloodPressure | None = None,
) -> ScreeningFacts:
    """What the record says, plus the clinician's answers. The record's diagnosis and
    medication lists are taken as they stand; allergies are known only when some are listed
    or 'no known allergies' is recorded; an escort is a contact marked as one."""
    allergies = tuple(
        patient.allergies.filter(active=True).values_list("substance", flat=True).order_by("pk")
    )
    scores = {}
    for instrument in SCREENING_INSTRUMENTS:
        total = (
            Assessment.objects.filter(patient=patient, instrument=instrument, total__isnull=False)
            .order_by("-answered_at", "-pk")
            .values_list("total", flat=True)
            .first()
        )
        if total is not None:
            scores[instrument] = total
    sex = patient.sex_at_birth if patient.sex_at_birth in eligibility.SEXES else None
    return ScreeningFacts(
        diagnosis_codes=tuple(
            patient.diagnoses.filter(status="active").values_list("code", flat=True).order_by("pk")
        ),
        allergies=allergies if allergies or patient.no_known_allergies else None,
        current_drug_classes=tuple(
            sorted(
                set(
                    patient.medications.filter(stopped_on__isnull=True).values_list(
                        "drug_class", flat=True
                    )
                )
            )
        ),
        blood_pressure=blood_pressure,
        sex_at_birth=None if sex == "unknown" else sex,
        scores=scores,
        has_escort=patient.contacts.filter(is_escort=True).exists(),
        answers={key: value for key, value in answers.items() if value is not None},
    )


def _facts_json(facts: ScreeningFacts) -> dict:
    data = asdict(facts)
    for key in ("diagnosis_codes", "allergies", "current_drug_classes"):
        if data[key] is not None:
            data[key] = list(data[key])
    data["scores"] = dict(facts.scores)
    data["answers"] = dict(facts.answers)
    return data


def _finding_json(finding: eligibility.Finding) -> dict:
    return {
        "rule_id": finding.rule_id,
        "kind": finding.kind.value,
        "status": finding.status.value,
        "label": finding.label,
        "source": finding.source,
        "met_by": list(finding.met_by),
        "needs": list(finding.needs),
        "clinic_setting": finding.clinic_setting,
        "unconfirmed": finding.unconfirmed,
    }


@transaction.atomic
def screen_patient(
    *,
    by,
    patient: Patient,
    answers: Mapping[str, bool | None],
    blood_pressure: BloodPressure | None = None,
) -> Screening:
    """Screen against the newest rule set, from the record and the clinician's answers."""
    check_permission(by, Permission.SCREENING_RECORD)
    rule_set = eligibility.rule_set(overrides=clinic_overrides("eligibility"))
    facts = facts_from_record(patient, answers=answers, blood_pressure=blood_pressure)
    result = eligibility.screen(facts, rule_set)
    screening = Screening.objects.create(
        patient=patient,
        rule_set_version=result.rule_set_version,
        facts=_facts_json(facts),
        outcome=result.outcome.value,
        findings=[_finding_json(finding) for finding in result.findings],
        clinic_changes=list(result.clinic_changes),
        screened_by=by,
        screened_at=timezone.now(),
    )
    record(
        actor=by,
        action="screening.create",
        target=screening,
        detail={"rule_set_version": result.rule_set_version},
    )
    return screening


@transaction.atomic
def override_eligibility(*, by, screening: Screening, reason: str) -> Screening:
    """A prescriber overrides 'not eligible' with a written reason."""
    check_permission(by, Permission.ELIGIBILITY_OVERRIDE)
    screening = Screening.objects.select_for_update().get(pk=screening.pk)
    if screening.overridden:
        raise InvalidInput("reason", "this screening was already overridden")
    reason = eligibility.check_can_override(screening.outcome, by.roles, reason)
    screening.overridden_by = by
    screening.override_reason = reason
    screening.overridden_at = timezone.now()
    screening.save(update_fields=["overridden_by", "override_reason", "overridden_at"])
    record(
        actor=by,
        action="screening.override",
        target=screening,
        detail={"fields": ["overridden_by", "override_reason", "overridden_at"]},
    )
    return screening


def latest_screening(patient: Patient) -> Screening | None:
    return patient.screenings.order_by("-screened_at", "-pk").first()


# ---------------------------------------------------------------------------------------------
# Consent


@transaction.atomic
def record_consent(
    *,
    by,
    patient: Patient,
    form_version: str | None = None,
    consented_at: datetime | None = None,
) -> Consent:
    """Consent to the clinic's current form (or, to record an old paper form, to the version
    given)."""
    check_permission(by, Permission.PLAN_DRAFT)
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    errors = FieldErrors()
    form_version = (consent_form_version() if form_version is None else form_version).strip()
    if not form_version:
        errors.add("form_version", "is required")
    now = timezone.now()
    if consented_at is None:
        consented_at = now
    elif timezone.is_naive(consented_at):
        errors.add("consented_at", "must include a time zone")
    elif consented_at > now:
        errors.add("consented_at", "cannot be in the future")
    else:
        # Consent dated before a withdrawal would be read as the latest and revive what the
        # patient withdrew.
        last_withdrawal = (
            patient.consents.filter(withdrawn_at__isnull=False)
            .order_by("-withdrawn_at")
            .values_list("withdrawn_at", flat=True)
            .first()
        )
        if last_withdrawal is not None and consented_at <= last_withdrawal:
            errors.add("consented_at", "must be after the patient withdrew their last consent")
    errors.raise_any()
    consent = Consent.objects.create(
        patient=patient, form_version=form_version, consented_at=consented_at, recorded_by=by
    )
    record(
        actor=by,
        action="consent.create",
        target=consent,
        detail={"fields": ["form_version", "consented_at"]},
    )
    return consent


def latest_consent(patient: Patient) -> Consent | None:
    """The latest consent recorded, withdrawn or to an earlier form: what the pages show."""
    return patient.consents.order_by("-consented_at", "-pk").first()


def current_consent(patient: Patient) -> Consent | None:
    """The consent that covers treatment now: the latest, unless the patient withdrew it or
    it was given to an earlier version of the clinic's consent form (then None)."""
    consent = latest_consent(patient)
    if consent is None or consent.withdrawn or consent.form_version != consent_form_version():
        return None
    return consent


def _pure_consent(consent: Consent | None) -> rules.Consent | None:
    if consent is None:
        return None
    return rules.Consent(consent.form_version, withdrawn=consent.withdrawn)


def check_can_withdraw_consent(consent: Consent) -> None:
    if consent.withdrawn:
        raise Refused("consent", "was already withdrawn")
    latest = latest_consent(consent.patient)
    if latest is not None and latest.pk != consent.pk:
        raise Refused("consent", "a later consent replaced this one: withdraw that one")


def can_withdraw_consent(consent: Consent) -> bool:
    try:
        check_can_withdraw_consent(consent)
    except InvalidInput:
        return False
    return True


@transaction.atomic
def withdraw_consent(*, by, consent: Consent, reason: str) -> Consent:
    """The patient withdraws their informed consent. The row stays, marked withdrawn; nothing
    is signed or dosed on it from then on, until the patient consents again."""
    check_permission(by, Permission.PLAN_DRAFT)
    Patient.objects.select_for_update().filter(pk=consent.patient_id).first()
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    check_can_withdraw_consent(consent)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "is required: the patient's reason, or that they gave none")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput("reason", f"must be at most {MAX_REASON_CHARS} characters")
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_by = by
    consent.withdrawal_reason = reason
    consent.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    record(
        actor=by,
        action="consent.withdraw",
        target=consent,
        detail={"fields": ["withdrawn_at", "withdrawn_by", "withdrawal_reason"]},
    )
    return consent


# ---------------------------------------------------------------------------------------------
# Presentation checklist

NOTE_MAX_CHARS = 2000


def latest_presentation(patient: Patient) -> PresentationReview | None:
    return patient.presentation_reviews.order_by("-recorded_at", "-pk").first()


def presentation_checklist(patient: Patient) -> dict[str, bool]:
    """The latest reviewed checklist as the profile reads it ({} when none was reviewed)."""
    review = latest_presentation(patient)
    if review is None:
        return {}
    return presentation.checklist_from_ticks(
        review.ticked, review.rules_version, presentation.rules()
    )


@transaction.atomic
def record_presentation(*, by, patient: Patient, ticked, note: str = "") -> PresentationReview:
    """The clinician's presentation checklist: the items ticked, every other one a no. A new
    review replaces the last one as the profile's input; the earlier ones stay."""
    check_permission(by, Permission.SCREENING_RECORD)
    checklist_rules = presentation.rules()
    errors = FieldErrors()
    if isinstance(ticked, str):
        errors.add("ticked", "must be a list of checklist items")
        ticked = ()
    ticked = errors.check(presentation.check_ticked, ticked or (), checklist_rules)
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        errors.add("note", f"must be at most {NOTE_MAX_CHARS} characters")
    errors.raise_any()
    review = PresentationReview.objects.create(
        patient=patient,
        ticked=list(ticked),
        rules_version=checklist_rules.version,
        note=note,
        recorded_by=by,
        recorded_at=timezone.now(),
    )
    record(
        actor=by,
        action="presentation.create",
        target=review,
        detail={"fields": ["ticked", "note"], "rules_version": checklist_rules.version},
    )
    return review


# ---------------------------------------------------------------------------------------------
# Plans

PLAN_FIELDS = [
    "library_version",
    "program",
    "route",
    "sessions_per_week",
    "planned_dosing_sessions",
    "weight_kg",
    "dose_mg",
    "volume_ml",
    "concentration_mg_per_ml",
    "infusion_minutes",
    "devices",
    "titration",
    "modalities",
    "goals",
    "dose_override_reason",
    "dose_override_by",
    "dose_cosigned_by",
]


def _cosigner(errors: _Errors, by, cosigner, password: str):
    """The second prescriber: a different person, who re-enters their password."""
    if cosigner is None:
        errors.add("dose_cosigner", "is required: a second prescriber co-signs a dose override")
        return None
    if cosigner.pk == by.pk:
        errors.add("dose_cosigner", "must be a different prescriber from the one overriding")
        return None
    if not cosigner.is_active:
        errors.add("dose_cosigner", "must be an active member of staff")
        return None
    if not password or not cosigner.check_password(password):
        errors.add("dose_cosigner_password", "does not match the co-signer's password")
        return None
    return cosigner


def _signer(user) -> dosing.Signer:
    return dosing.Signer(user.pk, frozenset(role.value for role in user.roles))


def _content(
    errors: _Errors,
    *,
    by,
    patient: Patient,
    program: str,
    route: str,
    sessions_per_week,
    planned_dosing_sessions,
    dose_mg,
    concentration_mg_per_ml,
    infusion_minutes,
    titration: str,
    modalities,
    goals: str,
    dose_override_reason: str,
    dose_cosigner,
    dose_cosigner_password: str,
) -> dict:
    """Every plan field validated, all problems at once; the dose decided by the protocol."""
    library = protocols.library(overrides=clinic_overrides("protocols"))
    rule = errors.check(library.route, route)
    program_rule = errors.check(library.program, program)
    frequency = None
    if sessions_per_week in (None, ""):
        errors.add("sessions_per_week", "is required")
    else:
        try:
            frequency = Decimal(str(sessions_per_week))
        except ArithmeticError:
            errors.add("sessions_per_week", "must be a number")
        if frequency is not None and program_rule is not None:
            errors.check(program_rule.check_frequency, frequency)
    if type(planned_dosing_sessions) is not int or planned_dosing_sessions < 1:
        errors.add("planned_dosing_sessions", "must be a whole number of 1 or more")
    modalities = list(modalities or [])
    known = {m.value for m in rules.PsychotherapyModality}
    if not modalities:
        errors.add("modalities", f"choose at least one: {library.integration.rule}")
    elif not set(modalities) <= known:
        errors.add("modalities", "must be integration modalities Kapstone knows")
    goals = (goals or "").strip()
    if not goals:
        errors.add("goals", "write at least one goal")
    titration = (titration or "").strip()

    weight = latest_weight_kg(patient)
    fields = {}
    if rule is not None:
        if rule.basis is protocols.Basis.MG_PER_KG and weight is None:
            errors.add("weight_kg", "record the patient's weight first: this dose is by weight")
        else:
            amount = (
                {"mg": dose_mg}
                if dose_mg not in (None, "")
                else {"mg_per_kg": rule.start}
                if rule.basis is protocols.Basis.MG_PER_KG
                else {"mg": rule.start}
            )
            dose = errors.check(
                dosing.calculate,
                rule,
                weight_kg=weight if rule.basis is protocols.Basis.MG_PER_KG else None,
                concentration_mg_per_ml=concentration_mg_per_ml or None,
                volume_step_ml=library.volume_step_ml,
                infusion_minutes=infusion_minutes,
                **amount,
            )
            if dose is not None:
                fields.update(
                    _dose_fields(
                        errors,
                        by,
                        rule,
                        dose,
                        dose_override_reason,
                        dose_cosigner,
                        dose_cosigner_password,
                    )
                )
    fields.update(
        library_version=library.version,
        program=program,
        route=route,
        sessions_per_week=frequency,
        planned_dosing_sessions=planned_dosing_sessions,
        titration=titration,
        modalities=modalities,
        goals=goals,
    )
    return fields


def _dose_fields(errors, by, rule, dose, reason, cosigner, password) -> dict:
    fields = {
        "weight_kg": dose.weight_kg,
        "dose_mg": dose.mg,
        "volume_ml": dose.volume_ml,
        "concentration_mg_per_ml": dose.concentration_mg_per_ml,
        "infusion_minutes": dose.infusion_minutes,
        "devices": dose.devices,
        "dose_override_reason": "",
        "dose_override_by": None,
        "dose_cosigned_by": None,
    }
    inside = dosing.in_range(rule, dose.mg, dose.weight_kg)
    if inside or not (reason or "").strip():
        # Inside the range: nothing to override. Outside without a reason: DoseOutOfRange.
        errors.check(dosing.decide, rule, dose, None)
        return fields
    cosigner = _cosigner(errors, by, cosigner, password)
    if cosigner is None:
        return fields
    override = dosing.DoseOverride(_signer(by), reason, _signer(cosigner))
    decision = errors.check(dosing.decide, rule, dose, override)
    if decision is not None:
        fields.update(
            dose_override_reason=decision.override.reason,
            dose_override_by=by,
            dose_cosigned_by=cosigner,
        )
    return fields


@transaction.atomic
def draft_plan(
    *,
    by,
    patient: Patient,
    program: str,
    route: str,
    sessions_per_week,
    planned_dosing_sessions,
    goals: str,
    modalities=(),
    dose_mg=None,
    concentration_mg_per_ml=None,
    infusion_minutes=None,
    titration: str = "",
    dose_override_reason: str = "",
    dose_cosigner=None,
    dose_cosigner_password: str = "",
) -> TreatmentPlan:
    """A new draft, numbered after every version so far. Without a dose, the protocol's
    starting dose for the patient's latest weight."""
    check_permission(by, Permission.PLAN_DRAFT)
    rules.check_can_draft(by.roles)
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    errors = _Errors()
    fields = _content(
        errors,
        by=by,
        patient=patient,
        program=program,
        route=route,
        sessions_per_week=sessions_per_week,
        planned_dosing_sessions=planned_dosing_sessions,
        dose_mg=dose_mg,
        concentration_mg_per_ml=concentration_mg_per_ml,
        infusion_minutes=infusion_minutes,
        titration=titration,
        modalities=modalities,
        goals=goals,
        dose_override_reason=dose_override_reason,
        dose_cosigner=dose_cosigner,
        dose_cosigner_password=dose_cosigner_password,
    )
    errors.raise_any()
    plan = TreatmentPlan.objects.create(
        patient=patient,
        version=_next_version(patient),
        status=rules.PlanStatus.DRAFT.value,
        drafted_by=by,
        drafted_at=timezone.now(),
        **fields,
    )
    record(actor=by, action="plan.create", target=plan, detail={"fields": PLAN_FIELDS})
    return plan


def _next_version(patient: Patient) -> int:
    latest = patient.treatment_plans.order_by("-version").values_list("version", flat=True)
    return (latest.first() or 0) + 1


@transaction.atomic
def amend_plan(*, by, plan: TreatmentPlan, **content) -> TreatmentPlan:
    """Change a draft. A signed or superseded plan is frozen: revise it instead."""
    check_permission(by, Permission.PLAN_DRAFT)
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    rules.check_can_edit(_pure(plan), by.roles)
    errors = _Errors()
    content.setdefault("modalities", ())
    fields = _content(errors, by=by, patient=plan.patient, **_content_args(content))
    errors.raise_any()
    changed = [name for name, value in fields.items() if getattr(plan, name) != value]
    for name, value in fields.items():
        setattr(plan, name, value)
    plan.save()
    record(actor=by, action="plan.update", target=plan, detail={"fields": changed})
    return plan


def _content_args(content: dict) -> dict:
    defaults = {
        "dose_mg": None,
        "concentration_mg_per_ml": None,
        "infusion_minutes": None,
        "titration": "",
        "dose_override_reason": "",
        "dose_cosigner": None,
        "dose_cosigner_password": "",
    }
    return {**defaults, **content}


def _pure(plan: TreatmentPlan) -> rules.Plan:
    """The stored plan as the clinical rules see it."""
    dose = dosing.Dose(
        route=plan.route,
        mg=plan.dose_mg,
        calculated_mg=plan.dose_mg,
        mg_per_kg=None,
        weight_kg=plan.weight_kg,
        volume_ml=plan.volume_ml,
        concentration_mg_per_ml=plan.concentration_mg_per_ml,
        devices=plan.devices,
        infusion_minutes=plan.infusion_minutes,
    )
    override = None
    if plan.dose_overridden:
        override = dosing.DoseOverride(
            _signer(plan.dose_override_by),
            plan.dose_override_reason,
            _signer(plan.dose_cosigned_by),
        )
    decision = dosing.DoseDecision(dose, in_range=override is None, override=override)
    content = rules.PlanContent(
        library_version=plan.library_version,
        program=plan.program,
        route=plan.route,
        sessions_per_week=plan.sessions_per_week,
        planned_dosing_sessions=plan.planned_dosing_sessions,
        starting_dose=decision,
        titration=plan.titration,
        modalities=tuple(plan.modalities),
        goals=tuple(plan.goal_lines),
    )
    supersedes = plan.supersedes.version if plan.supersedes_id else None
    return rules.Plan(plan.version, rules.PlanStatus(plan.status), content, supersedes)


def sign_gate(plan: TreatmentPlan, user) -> None:
    """Refused (naming what is missing) unless this user may sign this draft now."""
    screening = latest_screening(plan.patient)
    if screening is None or not screening.allows_treatment:
        raise InvalidInput(
            "screening",
            "the latest eligibility screening must be eligible, or a prescriber's override",
        )
    # The latest consent, withdrawn or not, so a refusal says which it is.
    rules.check_can_sign(
        _pure(plan),
        user.roles,
        consent=_pure_consent(latest_consent(plan.patient)),
        consent_form_version=consent_form_version(),
        library=protocols.library(plan.library_version, overrides=clinic_overrides("protocols")),
    )


@transaction.atomic
def sign_plan(*, by, plan: TreatmentPlan) -> TreatmentPlan:
    """A prescriber signs a draft; it is then frozen, and the signed plan before it is
    superseded."""
    check_permission(by, Permission.PLAN_SIGN)
    Patient.objects.select_for_update().filter(pk=plan.patient_id).first()
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    sign_gate(plan, by)
    previous = plan.patient.treatment_plans.filter(status=rules.PlanStatus.SIGNED.value).first()
    form_version = consent_form_version()
    signed, superseded = rules.sign(
        _pure(plan),
        roles=by.roles,
        consent=_pure_consent(latest_consent(plan.patient)),
        consent_form_version=form_version,
        library=protocols.library(plan.library_version, overrides=clinic_overrides("protocols")),
        previous=_pure(previous) if previous else None,
    )
    if previous is not None:
        previous.status = superseded.status.value
        previous.save(update_fields=["status"])
    plan.status = signed.status.value
    plan.signed_by = by
    plan.signed_at = timezone.now()
    plan.consent_form_version = form_version
    plan.save(update_fields=["status", "signed_by", "signed_at", "consent_form_version"])
    record(
        actor=by,
        action="plan.sign",
        target=plan,
        detail={
            "fields": ["status", "signed_by", "signed_at", "consent_form_version"],
            "superseded": previous.pk if previous else None,
        },
    )
    return plan


@transaction.atomic
def revise_plan(*, by, plan: TreatmentPlan) -> TreatmentPlan:
    """A new draft copied from the signed plan; the signed plan stays in force until the
    new version is signed."""
    check_permission(by, Permission.PLAN_DRAFT)
    Patient.objects.select_for_update().filter(pk=plan.patient_id).first()
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    draft = rules.revise(
        _pure(plan), roles=by.roles, latest_version=_next_version(plan.patient) - 1
    )
    copy = TreatmentPlan.objects.create(
        patient=plan.patient,
        version=draft.version,
        status=draft.status.value,
        supersedes=plan,
        drafted_by=by,
        drafted_at=timezone.now(),
        **{name: getattr(plan, name) for name in PLAN_FIELDS},
    )
    record(
        actor=by,
        action="plan.revise",
        target=copy,
        detail={"fields": PLAN_FIELDS, "revises": plan.pk},
    )
    return copy


def check_can_discard(plan: TreatmentPlan, roles) -> None:
    if plan.status != rules.PlanStatus.DRAFT:
        hint = " (revise it to change it)" if plan.status == rules.PlanStatus.SIGNED else ""
        raise Refused(
            "status", f"only a draft is discarded: a {plan.status} plan stays in the record{hint}"
        )
    rules.discard(_pure(plan), roles=roles)


def can_discard(plan: TreatmentPlan, roles) -> bool:
    try:
        check_can_discard(plan, roles)
    except InvalidInput:
        return False
    return True


@transaction.atomic
def discard_plan(*, by, plan: TreatmentPlan, reason: str) -> TreatmentPlan:
    """A draft nobody will sign is discarded with a written reason; it stays in the record."""
    check_permission(by, Permission.PLAN_DRAFT)
    Patient.objects.select_for_update().filter(pk=plan.patient_id).first()
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    check_can_discard(plan, by.roles)
    reason = check_reason("reason", reason, "discard this draft")
    plan.status = rules.PlanStatus.DISCARDED.value
    plan.discarded_by = by
    plan.discarded_at = timezone.now()
    plan.discard_reason = reason
    plan.save(update_fields=["status", "discarded_by", "discarded_at", "discard_reason"])
    record(
        actor=by,
        action="plan.discard",
        target=plan,
        detail={"fields": ["status", "discarded_by", "discarded_at", "discard_reason"]},
    )
    return plan


def other_prescribers(user):
    """Who may co-sign a dose override with this user."""
    return (
        get_user_model()
        .objects.filter(is_active=True, role_rows__role=Role.PRESCRIBER.value)
        .exclude(pk=user.pk)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
