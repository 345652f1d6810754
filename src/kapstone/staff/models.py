import hashlib
from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models

from kapstone.access.roles import Permission, Role, needs_two_factor, permissions_for


class User(AbstractUser):
    """A member of the clinic's staff (or a system account that holds API tokens)."""

    credentials = models.CharField(
        max_length=60, blank=True, help_text="Letters after the name, e.g. MD, RN, LMFT"
    )
    sites = models.ManyToManyField("core.Site", blank=True, related_name="staff")

    class Meta:
        ordering = ["last_name", "first_name"]

    @property
    def display_name(self) -> str:
        name = self.get_full_name() or self.username
        return f"{name}, {self.credentials}" if self.credentials else name

    @cached_property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows.all())

    @cached_property
    def permissions(self) -> frozenset[Permission]:
        return permissions_for(self.roles)

    @property
    def needs_two_factor(self) -> bool:
        return needs_two_factor(self.roles)

    @property
    def has_totp_device(self) -> bool:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        return TOTPDevice.objects.filter(user=self, confirmed=True).exists()

    @property
    def role_labels(self) -> str:
        return ", ".join(sorted(role.label for role in self.roles))


class StaffRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_rows")
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in Role])
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="staff_role_once_per_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="staff_role_known"
            ),
        ]


class ApiToken(models.Model):
    """A bearer token for another system. Only a hash is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()


class StaffSession(AbstractBaseSession):
    """A browser's session: Django's, with the member of staff signed in to it beside the data
    (kept in step when the session is saved), so that one query reads both on every request
    (kapstone.staff.sessions)."""

    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="browser_sessions"
    )

    @classmethod
    def get_session_store_class(cls):
        from kapstone.staff.sessions import SessionStore

        return SessionStore
