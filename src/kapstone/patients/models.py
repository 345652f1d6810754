"""The patient record: identity, contacts, measurements and clinical history.

Rows here change only through kapstone.patients.actions, which audits each change.
"""

from django.db import models
from django.db.models import Q

from kapstone.clinical import units
from kapstone.clinical.demographics import normalise_name
from kapstone.clinical.treatment_history import DrugClass, PsychotherapyModality, Response


def _choices(enum):
    return [(member.value, getattr(member, "label", member.value)) for member in enum]


class Patient(models.Model):
    class SexAtBirth(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        INTERSEX = "intersex", "Intersex"
        UNKNOWN = "unknown", "Not recorded"

    record_number = models.CharField(max_length=12, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    # Folded copies for search: lower case, accents removed (kept in step by save()).
    first_name_norm = models.CharField(max_length=100, db_index=True, editable=False)
    last_name_norm = models.CharField(max_length=100, db_index=True, editable=False)
    preferred_name_norm = models.CharField(max_length=100, db_index=True, editable=False)
    date_of_birth = models.DateField(db_index=True)
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=60, blank=True)
    pronouns = models.CharField(max_length=30, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    home_site = models.ForeignKey(
        "core.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="patients"
    )
    no_known_allergies = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name_norm", "first_name_norm", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(first_name="") & ~Q(last_name=""), name="patient_names_present"
            ),
            models.CheckConstraint(
                condition=Q(sex_at_birth__in=["female", "male", "intersex", "unknown"]),
                name="patient_sex_at_birth_known",
            ),
        ]

    def __str__(self):
        return self.record_number

    def save(self, *args, **kwargs):
        self.first_name_norm = normalise_name(self.first_name)
        self.last_name_norm = normalise_name(self.last_name)
        self.preferred_name_norm = normalise_name(self.preferred_name)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        preferred = f" ({self.preferred_name})" if self.preferred_name else ""
        return f"{self.first_name}{preferred} {self.last_name}"

    @property
    def sorted_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


class PatientContact(models.Model):
    """Someone to call: the emergency contact, and the escort who takes the patient home
    after dosing (one person may be both)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=60)
    phone = models.CharField(max_length=40)
    email = models.EmailField(blank=True)
    is_emergency_contact = models.BooleanField(default=False)
    is_escort = models.BooleanField(default=False, verbose_name="escort / support person")
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-is_escort", "-is_emergency_contact", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_emergency_contact=True) | Q(is_escort=True),
                name="contact_has_a_purpose",
            ),
            models.CheckConstraint(condition=~Q(phone=""), name="contact_phone_present"),
        ]


class BodyMeasurement(models.Model):
    """Weight and height, stored in SI with the unit the clinician typed kept beside them."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="measurements")
    measured_at = models.DateTimeField()
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    weight_unit_entered = models.CharField(
        max_length=2, choices=_choices(units.WeightUnit), blank=True
    )
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_unit_entered = models.CharField(
        max_length=2, choices=_choices(units.HeightUnit), blank=True
    )
    recorded_by_id = models.BigIntegerField(null=True)

    class Meta:
        ordering = ["-measured_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=False) | Q(height_cm__isnull=False),
                name="measurement_has_a_value",
            ),
            # Physical limits, whatever a clinic configures for plausibility.
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True) | Q(weight_kg__gt=0, weight_kg__lt=700),
                name="measurement_weight_possible",
            ),
            models.CheckConstraint(
                condition=Q(height_cm__isnull=True) | Q(height_cm__gt=0, height_cm__lt=300),
                name="measurement_height_possible",
            ),
        ]


class Allergy(models.Model):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        UNKNOWN = "unknown", "Unknown"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(max_length=200)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default="unknown")
    active = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-active", "substance"]
        constraints = [models.CheckConstraint(condition=~Q(substance=""), name="allergy_named")]


class MedicationStatement(models.Model):
    """A medication the patient takes now (or took, once stopped_on is set)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(max_length=200)
    drug_class = models.CharField(max_length=20, choices=_choices(DrugClass), default="other")
    dose = models.CharField(max_length=100, blank=True)
    frequency = models.CharField(max_length=100, blank=True)
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["stopped_on", "name"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="medication_named"),
            models.CheckConstraint(
                condition=Q(stopped_on__isnull=True)
                | Q(started_on__isnull=True)
                | Q(stopped_on__gte=models.F("started_on")),
                name="medication_stops_after_it_starts",
            ),
        ]

    @property
    def current(self) -> bool:
        return self.stopped_on is None


class Diagnosis(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="diagnoses")
    code = models.CharField(max_length=8)
    description = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default="active")
    is_primary = models.BooleanField(default=False)
    diagnosed_on = models.DateField(null=True, blank=True)
    recorded_by_id = models.BigIntegerField(null=True)

    class Meta:
        ordering = ["-is_primary", "status", "code"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "code"],
                condition=Q(status="active"),
                name="diagnosis_active_once",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="active", is_primary=True),
                name="diagnosis_one_primary",
            ),
        ]


class MedicationTrial(models.Model):
    """A past medication tried for the anxiety, for the treatment-resistance summary."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medication_trials")
    drug = models.CharField(max_length=200)
    drug_class = models.CharField(max_length=20, choices=_choices(DrugClass), default="other")
    max_daily_dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    weeks = models.PositiveSmallIntegerField()
    adequate_dose = models.BooleanField(
        default=False, help_text="The prescriber judged the dose reached adequate."
    )
    response = models.CharField(max_length=15, choices=_choices(Response))
    side_effects = models.CharField(max_length=300, blank=True)
    started_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-started_on", "drug"]
        constraints = [
            models.CheckConstraint(condition=~Q(drug=""), name="trial_drug_named"),
            models.CheckConstraint(
                condition=Q(max_daily_dose_mg__isnull=True) | Q(max_daily_dose_mg__gt=0),
                name="trial_dose_positive",
            ),
            models.CheckConstraint(condition=Q(weeks__lte=1040), name="trial_weeks_plausible"),
        ]


class PsychotherapyCourse(models.Model):
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="psychotherapy_courses"
    )
    modality = models.CharField(max_length=20, choices=_choices(PsychotherapyModality))
    sessions = models.PositiveSmallIntegerField()
    response = models.CharField(max_length=15, choices=_choices(Response))
    ended_on = models.DateField(null=True, blank=True)
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-ended_on", "modality"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sessions__lte=1000), name="course_sessions_plausible"
            )
        ]
