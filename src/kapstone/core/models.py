"""The clinic organisation, its sites and their rooms.

One deployment serves one organisation; the organisation may run several sites (clinics),
each with its own rooms and staff.
"""

from django.db import models

from kapstone.clinical.config import ClinicConfig


class Organization(models.Model):
    name = models.CharField(max_length=200)
    # Per-clinic overrides of the shipped clinical defaults (same shape as defaults.toml).
    settings_overrides = models.JSONField(default=dict, blank=True)
    # Record numbers are issued from this counter under a row lock, so two front-desk
    # registrations at once never get the same number.
    next_record_number = models.PositiveIntegerField(default=1)
    # A demo clinic allows conveniences a real one must not (printing a demo user's current
    # two-factor code from the command line).
    is_demo = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(next_record_number__gte=1),
                name="organization_record_counter_positive",
            )
        ]

    def __str__(self):
        return self.name

    @classmethod
    def current(cls) -> "Organization":
        org = cls.objects.order_by("pk").first()
        if org is None:
            org = cls.objects.create(name="Kapstone clinic")
        return org

    @property
    def config(self) -> ClinicConfig:
        return ClinicConfig(self.settings_overrides)


class Site(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=20, unique=True)
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    time_zone = models.CharField(max_length=64, default="America/New_York")
    # The site's DEA registration (two letters, seven digits): printed on the controlled-
    # substance inventories, which the registrant keeps per registered location.
    dea_registration = models.CharField(max_length=9, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Room(models.Model):
    class Kind(models.TextChoices):
        DOSING = "dosing", "Dosing room"
        THERAPY = "therapy", "Therapy room"
        RECOVERY = "recovery", "Recovery area"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["site", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="room_name_unique_per_site")
        ]

    def __str__(self):
        return f"{self.site.name}: {self.name}"
