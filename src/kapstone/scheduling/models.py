"""Staff hours, appointments and calendar feed tokens.

An appointment is one occurrence of a patient's series (kapstone.scheduling.series): its
``uid`` is the occurrence's key, unique across the clinic. Times are stored in UTC and read
in the site's time zone. ``__str__`` stays Django's default: an appointment names a patient.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from kapstone.core.models import Room, Site
from kapstone.patients.models import Patient
from kapstone.scheduling.series import WEEKDAYS
from kapstone.treatment.models import TreatmentPlan


class StaffHours(models.Model):
    """When a member of staff works at a site on a weekday (0 is Monday)."""

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_hours"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="staff_hours")
    weekday = models.PositiveSmallIntegerField()
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["site", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="staff_hours_end_after"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="staff_hours_weekday"),
        ]

    @property
    def weekday_name(self) -> str:
        return WEEKDAYS[self.weekday]


class Appointment(models.Model):
    class Kind(models.TextChoices):
        DOSING = "dosing", "Dosing session"
        INTEGRATION = "integration", "Integration session"

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    plan = models.ForeignKey(
        TreatmentPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    series_id = models.UUIDField()
    index = models.PositiveSmallIntegerField()
    uid = models.CharField(max_length=80, unique=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="appointments")
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.PROTECT, related_name="appointments"
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    route = models.CharField(max_length=20, blank=True)
    modality = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    # A dosing appointment owns the dosing session the nurses work from; moving or cancelling
    # the appointment moves or cancels it (kapstone.scheduling.actions).
    dosing_session = models.OneToOneField(
        "dosing.DosingSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointment",
    )
    # The retreat run it was booked from, if any.
    retreat = models.ForeignKey(
        "RetreatRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        indexes = [
            models.Index(fields=["site", "start"], name="appointment_site_start"),
            models.Index(fields=["patient", "start"], name="appointment_patient_start"),
            models.Index(fields=["series_id"], name="appointment_series"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="appointment_end_after"),
            models.CheckConstraint(condition=Q(index__gte=1), name="appointment_index_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=["dosing", "integration"]), name="appointment_kind_known"
            ),
            # Only a dosing appointment has a dosing session.
            models.CheckConstraint(
                condition=Q(kind="dosing") | Q(dosing_session__isnull=True),
                name="appointment_session_only_dosing",
            ),
        ]


class FeedToken(models.Model):
    """A clinician's calendar feed link. Only the token's hash is kept: the link is shown
    once, when made; making a new one replaces it."""

    staff = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedule_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class RetreatRun(models.Model):
    """One request to schedule a retreat cohort, and what the optimizer found: the sessions
    (patients by id) or the rules that cannot be met. A found schedule is booked at most once
    (``actions.book_retreat``), which sets ``booked_at`` and ``booked_by``."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the optimizer"
        DONE = "done", "Scheduled"
        INFEASIBLE = "infeasible", "Cannot be scheduled"
        FAILED = "failed", "Failed"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    start = models.DateField()
    days = models.PositiveSmallIntegerField()
    patients = models.ManyToManyField(Patient, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(days__gte=1) & Q(days__lte=14), name="retreat_days_range"
            ),
            # Booked names who and when, and only a found schedule is booked.
            models.CheckConstraint(
                condition=Q(booked_at__isnull=True, booked_by__isnull=True)
                | Q(booked_at__isnull=False, booked_by__isnull=False, status="done"),
                name="retreat_booked_whole",
            ),
        ]

    @property
    def booked(self) -> bool:
        return self.booked_at is not None
