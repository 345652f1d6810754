"""Questionnaire scores, suicide-risk alerts and between-session check-ins.

Scoring is kapstone.clinical.instruments; these rows store what it decided, with the
definition version that decided it, so a score recorded today still reads the same after a
definition changes. Rows change only through kapstone.assessments.actions.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.patients.models import Patient


class Timepoint(models.TextChoices):
    """Where in the treatment a score was taken: the course compares from the baseline."""

    BASELINE = "baseline", "Baseline (start of the treatment episode)"
    PRE_DOSE = "pre_dose", "Before a dosing session"
    POST_DOSE_24H = "post_24h", "24 hours after a dosing session"
    POST_DOSE_7D = "post_7d", "7 days after a dosing session"
    WEEKLY = "weekly", "Weekly"
    MAINTENANCE = "maintenance", "Maintenance"
    OTHER = "other", "Other"


class Assessment(models.Model):
    """One administration of one instrument: the answers as given and the score they make."""

    class Source(models.TextChoices):
        CLINICIAN = "clinician", "Entered by staff"
        CHECKIN = "checkin", "Answered by the patient (check-in link)"
        FHIR = "fhir", "Received as a FHIR QuestionnaireResponse"

    # The id other systems see (FHIR Observation and QuestionnaireResponse); never the row id.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    instrument = models.CharField(max_length=30)
    definition_version = models.CharField(max_length=20)
    answered_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    timepoint = models.CharField(max_length=12, choices=Timepoint.choices, default="other")
    source = models.CharField(max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checkin = models.ForeignKey(
        "CheckIn", null=True, blank=True, on_delete=models.PROTECT, related_name="assessments"
    )
    # Item id -> the answer as given (a number, or true/false for yes/no items; null: skipped).
    answers = models.JSONField()
    # Patient-level facts the scoring needed (PDSS: with agoraphobia).
    context = models.JSONField(default=dict, blank=True)
    item_scores = models.JSONField()
    total = models.SmallIntegerField(null=True, blank=True)
    max_total = models.SmallIntegerField(null=True, blank=True)
    complete = models.BooleanField()
    band_code = models.CharField(max_length=30, blank=True)
    band_label = models.CharField(max_length=80, blank=True)
    subscales = models.JSONField(default=dict, blank=True)
    # [{"code", "urgent", "detail", "level"}] as the scoring raised them.
    flags = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["answered_at", "id"]
        indexes = [models.Index(fields=["patient", "instrument", "answered_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(total__gte=0), name="assessment_total_positive"
            ),
            models.CheckConstraint(
                condition=Q(total__isnull=True)
                | Q(max_total__isnull=True)
                | Q(total__lte=models.F("max_total")),
                name="assessment_total_within_max",
            ),
            # A total exists only for a complete form (the missing-item rule).
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(complete=True),
                name="assessment_total_needs_complete",
            ),
            models.CheckConstraint(
                condition=~Q(source="clinician") | Q(entered_by__isnull=False),
                name="assessment_staff_entry_names_staff",
            ),
            models.CheckConstraint(
                condition=~Q(source="checkin") | Q(checkin__isnull=False),
                name="assessment_checkin_names_link",
            ),
        ]

    @property
    def urgent_flags(self) -> list[dict]:
        return [flag for flag in self.flags if flag.get("urgent")]


class RiskAlert(models.Model):
    """An urgent flag (PHQ-9 item 9 above 0, a positive C-SSRS screen) waiting for a clinician.

    It stays open until a clinician acknowledges it and records the action taken.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"

    class Action(models.TextChoices):
        CONTACTED = "contacted", "Contacted the patient and assessed risk"
        SAFETY_PLAN = "safety_plan", "Reviewed or updated the safety plan"
        EMERGENCY = "emergency", "Arranged urgent or emergency care"
        ESCALATED = "escalated", "Escalated to the prescriber or medical director"
        SEEN_IN_SESSION = "seen_in_session", "Assessed in person during the visit"
        OTHER = "other", "Other (described below)"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="risk_alerts")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="alerts")
    code = models.CharField(max_length=40)
    detail = models.CharField(max_length=200)
    level = models.CharField(max_length=20, blank=True)
    raised_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default="open")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    action_note = models.TextField(blank=True)
    # When the clinicians were e-mailed (the worker sets it once the mail has gone).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["status", "raised_at"])]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "code"], name="alert_once_per_flag"),
            models.CheckConstraint(
                condition=Q(
                    status="open", acknowledged_by__isnull=True, acknowledged_at__isnull=True
                )
                | Q(
                    status="acknowledged",
                    acknowledged_by__isnull=False,
                    acknowledged_at__isnull=False,
                )
                & ~Q(action=""),
                name="alert_acknowledged_names_who_when_what",
            ),
        ]


class CheckInSchedule(models.Model):
    """Questionnaires a patient is sent on a rhythm tied to the treatment.

    ``before_dosing`` and ``after_dosing`` follow the patient's dosing sessions (the offset
    says how long after); ``weekly`` runs from ``starts_on`` until it is ended.
    """

    class Kind(models.TextChoices):
        BEFORE_DOSING = "before_dosing", "Before every dosing session"
        AFTER_DOSING = "after_dosing", "After every dosing session"
        WEEKLY = "weekly", "Weekly"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="checkin_schedules")
    instruments = models.JSONField()
    kind = models.CharField(max_length=15, choices=Kind.choices)
    offset_hours = models.PositiveSmallIntegerField(default=0)
    starts_on = models.DateField()
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="after_dosing") | Q(offset_hours__gt=0),
                name="schedule_after_dosing_has_offset",
            ),
        ]


class CheckIn(models.Model):
    """A questionnaire link sent to a patient: single use, expiring, and anonymous.

    The link's token is an HMAC of ``nonce`` under the server's secret key: the database
    keeps only the nonce and a hash of the token, so a copy of the database opens no link,
    while the worker can still put the same link in a reminder. The link carries nothing that
    says who the patient is, so a forwarded or overheard link gives nothing away but the
    questions.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for answers"
        COMPLETED = "completed", "Answered"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="checkins")
    instruments = models.JSONField()
    nonce = models.CharField(max_length=32, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    timepoint = models.CharField(max_length=12, choices=Timepoint.choices, default="other")
    status = models.CharField(max_length=10, choices=Status.choices, default="pending")
    due_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Null when the schedule made it rather than a person.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    schedule = models.ForeignKey(
        CheckInSchedule, null=True, blank=True, on_delete=models.PROTECT, related_name="checkins"
    )
    # What in the schedule this occurrence is for (e.g. a dosing session and offset), so the
    # worker never sends the same one twice.
    occurrence = models.CharField(max_length=60, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["patient", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("due_at")), name="checkin_expires_after_due"
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="checkin_completed_has_time",
            ),
            models.UniqueConstraint(
                fields=["schedule", "occurrence"],
                condition=Q(schedule__isnull=False),
                name="checkin_once_per_occurrence",
            ),
        ]
