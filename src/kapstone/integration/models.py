"""Integration therapy sessions, and the psychotherapy process notes kept apart from them.

The session (modality, times, the modality's structured fields and scores) is part of the
medical record. A process note is the therapist's own: its own table, read only by its
author and those the author grants, as HIPAA treats psychotherapy notes. Nothing on the
chart, in the API or in an export reads ProcessNote; its reverse relations are switched
off (``related_name="+"``) so a session or a patient cannot reach its notes by accident.
Rows change only through kapstone.integration.actions.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from kapstone.integration import modalities
from kapstone.integration import practice as practice_rules

MODALITY_CHOICES = [(m.value, m.label) for m in modalities.Modality]
MAX_MINUTES = 600


class IntegrationSession(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="integration_sessions"
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    modality = models.CharField(max_length=15, choices=MODALITY_CHOICES)
    started_at = models.DateTimeField()
    minutes = models.PositiveSmallIntegerField()
    # The dosing session this one integrates, when there is one.
    dosing_session = models.ForeignKey(
        "dosing.DosingSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="integration_sessions",
    )
    # The modality's structured fields, as kapstone.integration.modalities.validate cleaned them.
    details = models.JSONField(default=dict)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["patient", "started_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(modality__in=[m.value for m in modalities.Modality]),
                name="integration_modality_known",
            ),
            models.CheckConstraint(
                condition=Q(minutes__gte=1, minutes__lte=MAX_MINUTES),
                name="integration_minutes_in_range",
            ),
        ]

    @property
    def modality_label(self) -> str:
        return modalities.Modality(self.modality).label

    def scores(self):
        return modalities.scores(self.modality, self.details)

    def fields_shown(self):
        return modalities.describe(self.modality, self.details)


class ProcessNote(models.Model):
    """A therapist's psychotherapy process note on an integration session."""

    session = models.ForeignKey(IntegrationSession, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="process_note_has_text"),
        ]


class ProcessNoteGrant(models.Model):
    """The author lets one more person read one note, until the author withdraws it."""

    note = models.ForeignKey(ProcessNote, on_delete=models.PROTECT, related_name="grants")
    grantee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    # The author may withdraw a grant; the row stays so the history of who could read it does.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["granted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["note", "grantee"],
                condition=Q(revoked_at__isnull=True),
                name="process_note_grant_once",
            ),
            models.CheckConstraint(
                condition=Q(grantee__isnull=False) & ~Q(grantee=models.F("granted_by")),
                name="process_note_grant_to_another",
            ),
        ]


# ---------------------------------------------------------------------------------------------
# Home practice between sessions (kapstone.integration.practice holds the rules)

FREQUENCY_CHOICES = list(practice_rules.FREQUENCIES.items())
PRACTICE_MAX_MINUTES = practice_rules.MAX_MINUTES


class PracticeAssignment(models.Model):
    """A practice from the library the patient is asked to do at home, this often."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="practice_assignments"
    )
    # The id of a practice in data/practices.toml.
    practice = models.CharField(max_length=40)
    frequency = models.CharField(max_length=10, choices=FREQUENCY_CHOICES)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-active", "starts_on", "id"]
        indexes = [models.Index(fields=["patient", "active"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(frequency__in=list(practice_rules.FREQUENCIES)),
                name="practice_frequency_known",
            ),
            models.CheckConstraint(condition=~Q(practice=""), name="practice_named"),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="practice_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["patient", "practice"],
                condition=Q(active=True),
                name="practice_active_once",
            ),
        ]

    @property
    def details(self) -> practice_rules.Practice | None:
        return practice_rules.library().get(self.practice)

    @property
    def name(self) -> str:
        found = self.details
        return found.name if found else self.practice

    @property
    def frequency_label(self) -> str:
        return practice_rules.FREQUENCIES.get(self.frequency, self.frequency)


class PracticeLink(models.Model):
    """A patient's home-practice link: it opens their practice page until it expires or a
    new one replaces it. Like a check-in link, the token is an HMAC of ``nonce`` under the
    server's secret; only the nonce and the token's hash are kept, and the link says nothing
    about who the patient is."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="practice_links"
    )
    nonce = models.CharField(max_length=32, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Set when a newer link replaces this one.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The link is shown to staff once, just after it is made.
    shown_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(revoked_at__isnull=True),
                name="practice_link_one_open",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="practice_link_expires_after_made",
            ),
        ]


class PracticeLog(models.Model):
    """One day's practice, logged by the patient from their link or by staff."""

    assignment = models.ForeignKey(
        PracticeAssignment, on_delete=models.PROTECT, related_name="logs"
    )
    done_on = models.DateField()
    minutes = models.PositiveSmallIntegerField()
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    logged_at = models.DateTimeField(auto_now_add=True)
    link = models.ForeignKey(
        PracticeLink, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-done_on", "-id"]
        indexes = [models.Index(fields=["assignment", "done_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    minutes__gte=practice_rules.MIN_MINUTES, minutes__lte=PRACTICE_MAX_MINUTES
                ),
                name="practice_log_minutes_in_range",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True)
                | Q(rating__gte=practice_rules.MIN_RATING, rating__lte=practice_rules.MAX_RATING),
                name="practice_log_rating_in_range",
            ),
            models.CheckConstraint(
                condition=(Q(link__isnull=False) & Q(logged_by__isnull=True))
                | (Q(link__isnull=True) & Q(logged_by__isnull=False)),
                name="practice_log_by_link_or_staff",
            ),
        ]
