"""Staff credentials: licences, registrations, life-support cards and therapy trainings.

Which kinds expire, and who holds what on a date, is kapstone.credentials.rules. A renewal
is a new row that replaces the old one (kept, inactive), so the history of every card stays.
Rows change only through kapstone.credentials.actions.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from kapstone.credentials import rules

KIND_CHOICES = [(kind.value, kind.label) for kind in rules.Kind]


class Credential(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="held_credentials"
    )
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    identifier = models.CharField(max_length=60, blank=True)
    issuer = models.CharField(max_length=120, blank=True)
    jurisdiction = models.CharField(max_length=60, blank=True)
    issued_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    # Where the copy of the document is kept (a file reference, not the document itself).
    document_note = models.CharField(max_length=200, blank=True)
    # False once a renewal replaced it.
    active = models.BooleanField(default=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    # When the clinic admins were e-mailed that it is entering the alert window.
    expiry_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "kind", "-issued_on", "-id"]
        indexes = [models.Index(fields=["active", "expires_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[kind.value for kind in rules.Kind]),
                name="credential_kind_known",
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gt=models.F("issued_on")),
                name="credential_expires_after_issue",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(kind.value for kind in rules.EXPIRING_KINDS))
                | Q(expires_on__isnull=False),
                name="credential_expiring_kind_has_expiry",
            ),
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True, verified_at__isnull=True)
                | Q(verified_by__isnull=False, verified_at__isnull=False),
                name="credential_verified_names_who_when",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "identifier"],
                condition=Q(active=True),
                name="credential_one_active_per_identifier",
            ),
        ]

    @property
    def label(self) -> str:
        return rules.Kind(self.kind).label

    def status(self, today):
        return rules.status(self, today)
