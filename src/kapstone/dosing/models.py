"""Dosing sessions: the supervised administration, from check-in to discharge.

A session's status follows the one table in ``rules.py``; every move leaves a ``StatusChange``.
The pre-dose check, the administration, each vital-sign reading, alert and adverse event and
the discharge are rows of their own, written once and never changed (append-only: two nurses
on one session add rows, they never overwrite each other's); an alert's acknowledgement is
the one exception, written once under a row lock. Rows change only through
``kapstone.dosing.actions``; the database holds the invariants too.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from kapstone.dosing.gates import (
    ALDRETE_DISCHARGE_MIN,
    ALDRETE_ITEMS,
    Outcome,
    PregnancyTest,
    SuicideRisk,
)
from kapstone.dosing.rules import UNDER_WAY, SessionStatus
from kapstone.monitoring.vitals import Vital

USER = settings.AUTH_USER_MODEL


def _choices(kind) -> list[tuple[str, str]]:
    return [(m.value, getattr(m, "label", m.value.replace("_", " ").capitalize())) for m in kind]


class SessionQuerySet(models.QuerySet):
    def under_way(self):
        return self.filter(status__in=[s.value for s in UNDER_WAY])


class DosingSession(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="dosing_sessions"
    )
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(
        "core.Room", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scheduled_start = models.DateTimeField(db_index=True)
    prescriber = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=12,
        choices=_choices(SessionStatus),
        default=SessionStatus.SCHEDULED.value,
    )
    # Where a held session was held from, so it resumes to a safe step (rules.resume_status).
    held_from = models.CharField(max_length=12, blank=True)
    status_reason = models.TextField(blank=True)
    # The protocol route the session follows (from the signed plan at the pre-dose check).
    route = models.CharField(max_length=20, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    dose_started_at = models.DateTimeField(null=True, blank=True)
    discharged_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["scheduled_start", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in SessionStatus]),
                name="dosing_session_status_known",
            ),
            # Held and aborted sessions say why.
            models.CheckConstraint(
                condition=~Q(status__in=["held", "aborted"]) | ~Q(status_reason=""),
                name="dosing_session_hold_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(status="held") | Q(held_from=""),
                name="dosing_session_held_from_only_when_held",
            ),
            models.CheckConstraint(
                condition=~Q(status="discharged") | Q(discharged_at__isnull=False),
                name="dosing_session_discharge_time",
            ),
        ]

    @property
    def status_label(self) -> str:
        return SessionStatus(self.status).label


class StatusChange(models.Model):
    """One move of a session's status: the timeline's spine."""

    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="changes")
    from_status = models.CharField(max_length=12)
    to_status = models.CharField(max_length=12)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]


class PreDoseCheck(models.Model):
    """What the nurse confirmed and measured before the dose, and what the gate decided."""

    session = models.ForeignKey(
        DosingSession, on_delete=models.PROTECT, related_name="pre_dose_checks"
    )
    fasting_hours = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    escort_confirmed = models.BooleanField()
    consent_current = models.BooleanField()
    plan_signed = models.BooleanField()
    plan_weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    pregnancy_test = models.CharField(max_length=10, blank=True, choices=_choices(PregnancyTest))
    gad7_total = models.PositiveSmallIntegerField(null=True, blank=True)
    phq9_item9 = models.PositiveSmallIntegerField(null=True, blank=True)
    suicide_risk = models.CharField(max_length=14, blank=True, choices=_choices(SuicideRisk))
    outcome = models.CharField(max_length=14, choices=_choices(Outcome))
    findings = models.JSONField(default=list)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # A prescriber's review of a check that needed one, when clearing.
    reviewed_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=[o.value for o in Outcome]), name="predose_outcome_known"
            ),
            models.CheckConstraint(
                condition=Q(gad7_total__isnull=True) | Q(gad7_total__lte=21),
                name="predose_gad7_range",
            ),
            models.CheckConstraint(
                condition=Q(phq9_item9__isnull=True) | Q(phq9_item9__lte=3),
                name="predose_phq9_item9_range",
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True) | Q(weight_kg__gt=0),
                name="predose_weight_positive",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True, review_reason="")
                | (Q(reviewed_by__isnull=False) & ~Q(review_reason="")),
                name="predose_review_has_reason",
            ),
        ]


class DeviceMessage(models.Model):
    """A bedside monitor's message, once per session: a resent message is not recorded twice."""

    session = models.ForeignKey(
        DosingSession, on_delete=models.PROTECT, related_name="device_messages"
    )
    control_id = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "control_id"], name="device_message_once_per_session"
            ),
            models.CheckConstraint(condition=~Q(control_id=""), name="device_message_has_id"),
        ]


class VitalReading(models.Model):
    class Source(models.TextChoices):
        HAND = "hand", "Entered by hand"
        DEVICE = "device", "Bedside monitor"

    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="readings")
    vital = models.CharField(max_length=20, choices=[(v.value, v.value) for v in Vital])
    value = models.DecimalField(max_digits=7, decimal_places=2)
    unit = models.CharField(max_length=12)
    taken_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=6, choices=Source.choices)
    recorded_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    device_message = models.ForeignKey(
        DeviceMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )
    pre_dose_check = models.ForeignKey(
        PreDoseCheck, null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["taken_at", "pk"]
        indexes = [models.Index(fields=["session", "vital", "-taken_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(vital__in=[v.value for v in Vital]), name="reading_vital_known"
            ),
            # Hand entries name who typed them; device entries name their message.
            models.CheckConstraint(
                condition=Q(source="hand", recorded_by__isnull=False, device_message__isnull=True)
                | Q(source="device", device_message__isnull=False),
                name="reading_source_named",
            ),
        ]


class VitalAlert(models.Model):
    """A reading beyond its threshold (kapstone.monitoring.vitals.alerts_for), open until a
    nurse or prescriber acknowledges it with what was done (once: the acknowledgement is the
    one change an alert ever takes)."""

    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="alerts")
    reading = models.ForeignKey(VitalReading, on_delete=models.PROTECT, related_name="alerts")
    rule = models.CharField(max_length=5, choices=[("above", "above"), ("below", "below")])
    limit = models.DecimalField(max_digits=7, decimal_places=2)
    source = models.TextField()
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    action_taken = models.TextField(blank=True)

    class Meta:
        ordering = ["raised_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(rule__in=["above", "below"]), name="alert_rule"),
            # Open, or acknowledged by someone, at a time, saying what they did.
            models.CheckConstraint(
                condition=Q(
                    acknowledged_by__isnull=True, acknowledged_at__isnull=True, action_taken=""
                )
                | (
                    Q(acknowledged_by__isnull=False, acknowledged_at__isnull=False)
                    & ~Q(action_taken="")
                ),
                name="vital_alert_acknowledged_together",
            ),
        ]

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class Administration(models.Model):
    """The dose as given: drug, strength, lot, route, amount, times, who gave and witnessed."""

    session = models.OneToOneField(
        DosingSession, on_delete=models.PROTECT, related_name="administration"
    )
    drug = models.CharField(max_length=40)
    route = models.CharField(max_length=20)
    concentration_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=2)
    lot = models.CharField(max_length=40)
    expires_on = models.DateField()
    dose_mg = models.DecimalField(max_digits=8, decimal_places=3)
    volume_ml = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField()
    rate_ml_per_hour = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    devices = models.PositiveSmallIntegerField(null=True, blank=True)
    rest_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    given_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    ledger_entry = models.ForeignKey(
        "ledger.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(dose_mg__gt=0), name="administration_dose"),
            models.CheckConstraint(
                condition=Q(concentration_mg_per_ml__gt=0), name="administration_strength"
            ),
            models.CheckConstraint(
                condition=Q(stopped_at__gte=F("started_at")), name="administration_times"
            ),
            models.CheckConstraint(
                condition=~Q(witness=F("given_by")), name="administration_witness_differs"
            ),
            models.CheckConstraint(
                condition=~Q(route="iv") | Q(rate_ml_per_hour__gt=0),
                name="administration_iv_rate",
            ),
            models.CheckConstraint(
                condition=~Q(route="in_esketamine") | Q(devices__gt=0, rest_minutes__isnull=False),
                name="administration_devices",
            ),
            models.CheckConstraint(
                condition=Q(route="in_esketamine") | Q(volume_ml__gt=0),
                name="administration_volume",
            ),
        ]


class AdverseEventKind(models.TextChoices):
    NAUSEA_VOMITING = "nausea_vomiting", "Nausea or vomiting"
    HYPERTENSION = "hypertension", "Hypertension"
    EMERGENCE_REACTION = "emergence_reaction", "Emergence reaction"
    ANXIETY_PANIC = "anxiety_panic", "Anxiety or panic"
    DIZZINESS = "dizziness", "Dizziness"
    SEDATION = "sedation", "Sedation"
    DISSOCIATION = "dissociation", "Dissociation"
    RESPIRATORY_DEPRESSION = "respiratory_depression", "Respiratory depression"
    OTHER = "other", "Other"


class AdverseEvent(models.Model):
    Kind = AdverseEventKind

    session = models.ForeignKey(
        DosingSession, on_delete=models.PROTECT, related_name="adverse_events"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    description = models.TextField(blank=True)
    # NCI CTCAE v5.0 general grade (clinical-facts.md §2.6).
    grade = models.PositiveSmallIntegerField()
    onset_at = models.DateTimeField()
    action = models.TextField()
    outcome = models.TextField()
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["onset_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade__gte=1, grade__lte=5), name="adverse_event_ctcae_grade"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AdverseEventKind.values), name="adverse_event_kind_known"
            ),
            models.CheckConstraint(
                condition=~Q(kind="other") | ~Q(description=""), name="adverse_event_other_named"
            ),
            models.CheckConstraint(condition=~Q(action=""), name="adverse_event_action"),
        ]


class Discharge(models.Model):
    session = models.OneToOneField(
        DosingSession, on_delete=models.PROTECT, related_name="discharge"
    )
    aldrete_activity = models.PositiveSmallIntegerField()
    aldrete_respiration = models.PositiveSmallIntegerField()
    aldrete_circulation = models.PositiveSmallIntegerField()
    aldrete_consciousness = models.PositiveSmallIntegerField()
    aldrete_oxygenation = models.PositiveSmallIntegerField()
    aldrete_total = models.PositiveSmallIntegerField()
    escort_present = models.BooleanField()
    instructions_acknowledged = models.BooleanField()
    monitored_minutes = models.PositiveIntegerField()
    # A prescriber's override of the reasons that stood in the way, with theirs.
    override_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    override_reason = models.TextField(blank=True)
    overridden = models.JSONField(default=list)
    discharged_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    discharged_at = models.DateTimeField()

    class Meta:
        constraints = [
            *(
                models.CheckConstraint(
                    condition=Q(**{f"aldrete_{name}__lte": 2}), name=f"discharge_aldrete_{name}"
                )
                for name in ALDRETE_ITEMS
            ),
            models.CheckConstraint(
                condition=Q(
                    aldrete_total=F("aldrete_activity")
                    + F("aldrete_respiration")
                    + F("aldrete_circulation")
                    + F("aldrete_consciousness")
                    + F("aldrete_oxygenation")
                ),
                name="discharge_aldrete_total",
            ),
            models.CheckConstraint(
                condition=Q(override_by__isnull=True, override_reason="")
                | (Q(override_by__isnull=False) & ~Q(override_reason="")),
                name="discharge_override_has_reason",
            ),
            # Without an override the gate's conditions hold in the row itself.
            models.CheckConstraint(
                condition=Q(override_by__isnull=False)
                | Q(
                    aldrete_total__gte=ALDRETE_DISCHARGE_MIN,
                    escort_present=True,
                    instructions_acknowledged=True,
                ),
                name="discharge_gate_met_or_overridden",
            ),
        ]
