"""Eligibility screenings, informed consent and treatment plans.

The rules are kapstone.clinical (eligibility, protocols, dose, treatment_plan); these rows
store what they decided and the version that decided it, so a screening or a plan reads the
same after a rule set or the protocol library changes. Rows change only through
kapstone.treatment.actions.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.clinical.eligibility import Outcome
from kapstone.clinical.treatment_plan import PlanStatus
from kapstone.patients.models import Patient


def _choices(kind) -> list[tuple[str, str]]:
    return [(member.value, member.label) for member in kind]


class Screening(models.Model):
    """One eligibility screening: the facts used, the outcome and every rule's finding."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    rule_set_version = models.CharField(max_length=20)
    # The facts as screened: from the record and the clinician's checklist answers.
    facts = models.JSONField()
    outcome = models.CharField(max_length=30, choices=_choices(Outcome))
    # Every enabled rule as applied: [{"rule_id", "kind", "status", "label", "source", ...}].
    findings = models.JSONField()
    clinic_changes = models.JSONField(default=list, blank=True)
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    screened_at = models.DateTimeField()
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_reason = models.TextField(blank=True)
    overridden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-screened_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=[o.value for o in Outcome]),
                name="screening_outcome_known",
            ),
            # An override names who, why and when, and only a 'not eligible' is overridden.
            models.CheckConstraint(
                condition=Q(overridden_by__isnull=True, override_reason="", overridden_at=None)
                | (
                    Q(overridden_by__isnull=False, overridden_at__isnull=False)
                    & ~Q(override_reason="")
                    & Q(outcome=Outcome.NOT_ELIGIBLE.value)
                ),
                name="screening_override_complete",
            ),
        ]

    @property
    def overridden(self) -> bool:
        return self.overridden_by_id is not None

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label

    @property
    def allows_treatment(self) -> bool:
        return self.overridden or self.outcome in (
            Outcome.ELIGIBLE,
            Outcome.ELIGIBLE_WITH_PRECAUTIONS,
        )


class Consent(models.Model):
    """The patient's informed consent, given to one version of the consent form."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    form_version = models.CharField(max_length=20)
    consented_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The patient withdrew this consent: who recorded it, when and the patient's reason. The
    # row stays; a withdrawn consent covers nothing from then on.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-consented_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(form_version=""), name="consent_form_named"),
            models.CheckConstraint(
                condition=Q(withdrawn_at=None, withdrawn_by__isnull=True, withdrawal_reason="")
                | (
                    Q(withdrawn_at__isnull=False, withdrawn_by__isnull=False)
                    & ~Q(withdrawal_reason="")
                ),
                name="consent_withdrawal_complete",
            ),
        ]

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class TreatmentPlan(models.Model):
    """One version of a patient's treatment plan. A signed version is frozen: a change is a
    new version, and signing it supersedes the one before."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_plans")
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=_choices(PlanStatus), default=PlanStatus.DRAFT.value
    )
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    library_version = models.CharField(max_length=20)
    program = models.CharField(max_length=40)
    route = models.CharField(max_length=20)
    sessions_per_week = models.DecimalField(max_digits=4, decimal_places=2)
    planned_dosing_sessions = models.PositiveSmallIntegerField()
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    dose_mg = models.DecimalField(max_digits=8, decimal_places=3)
    volume_ml = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    concentration_mg_per_ml = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True
    )
    infusion_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    devices = models.PositiveSmallIntegerField(null=True, blank=True)
    titration = models.TextField(blank=True)
    modalities = models.JSONField(default=list)
    goals = models.TextField()
    # A dose outside the protocol's range: the overriding prescriber's reason, co-signed by a
    # second, different prescriber who re-entered their password.
    dose_override_reason = models.TextField(blank=True)
    dose_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dose_cosigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    drafted_at = models.DateTimeField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    consent_form_version = models.CharField(max_length=20, blank=True)
    # A draft nobody will sign: who discarded it, when and why. The row stays in the record.
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discarded_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="plan_version_once"),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status=PlanStatus.SIGNED.value),
                name="plan_one_signed",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in PlanStatus]), name="plan_status_known"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="plan_version_positive"),
            models.CheckConstraint(condition=Q(dose_mg__gt=0), name="plan_dose_positive"),
            # Signed and superseded plans were signed: by whom, when, against which consent form.
            models.CheckConstraint(
                condition=Q(status__in=[PlanStatus.DRAFT.value, PlanStatus.DISCARDED.value])
                | (
                    Q(signed_by__isnull=False, signed_at__isnull=False)
                    & ~Q(consent_form_version="")
                ),
                name="plan_signed_names_signer",
            ),
            models.CheckConstraint(
                condition=Q(dose_override_by__isnull=True, dose_cosigned_by__isnull=True)
                & Q(dose_override_reason="")
                | (
                    Q(dose_override_by__isnull=False, dose_cosigned_by__isnull=False)
                    & ~Q(dose_override_reason="")
                    & ~Q(dose_override_by=models.F("dose_cosigned_by"))
                ),
                name="plan_dose_override_cosigned",
            ),
            # A discarded plan names who discarded it, when and why; no other plan does.
            models.CheckConstraint(
                condition=(
                    Q(status=PlanStatus.DISCARDED.value)
                    & Q(discarded_by__isnull=False, discarded_at__isnull=False)
                    & ~Q(discard_reason="")
                )
                | (
                    ~Q(status=PlanStatus.DISCARDED.value)
                    & Q(discarded_by__isnull=True, discarded_at=None, discard_reason="")
                ),
                name="plan_discard_has_reason",
            ),
        ]

    @property
    def status_label(self) -> str:
        return PlanStatus(self.status).label

    @property
    def goal_lines(self) -> list[str]:
        return [line.strip() for line in self.goals.splitlines() if line.strip()]

    @property
    def dose_overridden(self) -> bool:
        return self.dose_override_by_id is not None


class PresentationReview(models.Model):
    """The clinician's presentation checklist as reviewed at one time. Append-only: a new
    review is a new row, and the latest stands."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="presentation_reviews"
    )
    # The checklist items ticked, by id; every other item of that rules version was a no.
    ticked = models.JSONField(default=list, blank=True)
    rules_version = models.CharField(max_length=20)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(rules_version=""), name="presentation_rules_version_named"
            ),
        ]
