"""Every change to a patient record goes through these functions.

Each one checks the actor's permission, validates every field (reporting all problems at
once), writes in one transaction and records one audit event naming the fields it touched,
never their values.
"""

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Permission
from kapstone.audit.recording import record
from kapstone.clinical import demographics, icd10, units
from kapstone.clinical.treatment_history import DrugClass, PsychotherapyModality, Response
from kapstone.core.models import Organization
from kapstone.core.permissions import check_permission
from kapstone.errors import FieldErrors, InvalidInput
from kapstone.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    MedicationStatement,
    MedicationTrial,
    Patient,
    PatientContact,
    PsychotherapyCourse,
)

DEMOGRAPHIC_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "date_of_birth",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "home_site",
)


def _choice(field: str, value: str, allowed) -> str:
    values = {str(getattr(option, "value", option)) for option in allowed}
    if value not in values:
        raise InvalidInput(field, "is not one of the allowed choices")
    return value


def _email(value) -> str:
    value = (value or "").strip()
    if value:
        try:
            validate_email(value)
        except ValidationError:
            raise InvalidInput("email", "is not a valid e-mail address") from None
    return value


def _validated_demographics(data: dict, errors: FieldErrors, *, partial: bool) -> dict:
    clean = {}
    today = timezone.localdate()
    for name in ("first_name", "last_name"):
        if not partial or name in data:
            clean[name] = errors.check(demographics.check_name, name, data.get(name, ""))
    for name in ("preferred_name", "gender_identity", "pronouns"):
        if name in data:
            clean[name] = errors.check(
                demographics.check_name, name, data.get(name) or "", required=False
            )
    if not partial or "date_of_birth" in data:
        clean["date_of_birth"] = errors.check(
            demographics.check_date_of_birth, data.get("date_of_birth"), today
        )
    if not partial or "sex_at_birth" in data:
        clean["sex_at_birth"] = errors.check(
            _choice, "sex_at_birth", data.get("sex_at_birth", ""), Patient.SexAtBirth
        )
    for name in ("phone", "address_line1", "address_line2", "city", "state"):
        if name in data:
            clean[name] = (data[name] or "").strip()
    if "email" in data:
        clean["email"] = errors.check(_email, data["email"])
    if "postal_code" in data:
        clean["postal_code"] = (data["postal_code"] or "").strip()
    if "home_site" in data:
        clean["home_site"] = data["home_site"]
    return clean


def _measurement(patient, by, config, *, weight, weight_unit, height, height_unit, measured_at):
    errors = FieldErrors()
    weight_kg = height_cm = None
    if weight not in (None, ""):
        weight_kg = errors.check(
            units.weight_to_kg, weight, weight_unit, config.bounds("weight_kg")
        )
    if height not in (None, ""):
        height_cm = errors.check(
            units.height_to_cm, height, height_unit, config.bounds("height_cm")
        )
    errors.raise_any()
    if weight_kg is None and height_cm is None:
        return None
    return BodyMeasurement(
        patient=patient,
        measured_at=measured_at or timezone.now(),
        weight_kg=weight_kg,
        weight_unit_entered=weight_unit if weight_kg is not None else "",
        height_cm=height_cm,
        height_unit_entered=height_unit if height_cm is not None else "",
        recorded_by_id=by.pk,
    )


@transaction.atomic
def register_patient(
    *,
    by,
    weight: Decimal | str | None = None,
    weight_unit: str = "kg",
    height: Decimal | str | None = None,
    height_unit: str = "cm",
    **data,
) -> Patient:
    check_permission(by, Permission.PATIENT_REGISTER)
    unknown = set(data) - set(DEMOGRAPHIC_FIELDS)
    if unknown:
        raise InvalidInput(min(unknown), "is not a patient field")
    org = Organization.objects.select_for_update().get(pk=Organization.current().pk)
    errors = FieldErrors()
    clean = _validated_demographics(data, errors, partial=False)
    patient = Patient(**clean)
    measurement = errors.check(
        _measurement,
        patient,
        by,
        org.config,
        weight=weight,
        weight_unit=weight_unit,
        height=height,
        height_unit=height_unit,
        measured_at=None,
    )
    errors.raise_any()
    patient.record_number = demographics.format_record_number(org.next_record_number)
    org.next_record_number += 1
    org.save(update_fields=["next_record_number"])
    patient.save()
    if measurement is not None:
        measurement.save()
    record(
        actor=by,
        action="patient.create",
        target=patient,
        detail={"fields": sorted(k for k, v in clean.items() if v not in ("", None))},
    )
    return patient


@transaction.atomic
def update_demographics(*, by, patient: Patient, **changes) -> list[str]:
    """Apply changes; return the names of the fields that really changed."""
    check_permission(by, Permission.PATIENT_EDIT_DEMOGRAPHICS)
    unknown = set(changes) - set(DEMOGRAPHIC_FIELDS)
    if unknown:
        raise InvalidInput(min(unknown), "is not a patient field")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    errors = FieldErrors()
    clean = _validated_demographics(changes, errors, partial=True)
    errors.raise_any()
    changed = [name for name, value in clean.items() if getattr(patient, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(patient, name, clean[name])
    patient.save()
    record(actor=by, action="patient.update", target=patient, detail={"fields": changed})
    return changed


@transaction.atomic
def record_measurement(
    *,
    by,
    patient: Patient,
    weight=None,
    weight_unit: str = "kg",
    height=None,
    height_unit: str = "cm",
    measured_at: datetime | None = None,
) -> BodyMeasurement:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    if measured_at is not None and measured_at > timezone.now():
        raise InvalidInput("measured_at", "cannot be in the future")
    measurement = _measurement(
        patient,
        by,
        Organization.current().config,
        weight=weight,
        weight_unit=weight_unit,
        height=height,
        height_unit=height_unit,
        measured_at=measured_at,
    )
    if measurement is None:
        raise InvalidInput("weight", "enter a weight, a height, or both")
    measurement.save()
    fields = [n for n in ("weight_kg", "height_cm") if getattr(measurement, n) is not None]
    record(actor=by, action="measurement.create", target=measurement, detail={"fields": fields})
    return measurement


def _required(field: str, value) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else value
    if value in ("", None):
        raise InvalidInput(field, "is required")
    return value


@transaction.atomic
def add_contact(
    *,
    by,
    patient: Patient,
    name: str,
    relationship: str,
    phone: str,
    email: str = "",
    is_emergency_contact: bool = False,
    is_escort: bool = False,
    notes: str = "",
) -> PatientContact:
    check_permission(by, Permission.PATIENT_EDIT_DEMOGRAPHICS)
    errors = FieldErrors()
    name = errors.check(_required, "name", name)
    relationship = errors.check(_required, "relationship", relationship)
    phone = errors.check(_required, "phone", phone)
    if not (is_emergency_contact or is_escort):
        errors.errors.append(InvalidInput("is_escort", "tick emergency contact, escort, or both"))
    errors.raise_any()
    contact = PatientContact.objects.create(
        patient=patient,
        name=name,
        relationship=relationship,
        phone=phone,
        email=(email or "").strip(),
        is_emergency_contact=is_emergency_contact,
        is_escort=is_escort,
        notes=(notes or "").strip(),
    )
    record(
        actor=by,
        action="contact.create",
        target=contact,
        detail={"emergency": is_emergency_contact, "escort": is_escort},
    )
    return contact


@transaction.atomic
def add_allergy(
    *, by, patient: Patient, substance: str, reaction: str = "", severity: str = "unknown"
) -> Allergy:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    errors = FieldErrors()
    substance = errors.check(_required, "substance", substance)
    severity = errors.check(_choice, "severity", severity, Allergy.Severity)
    errors.raise_any()
    allergy = Allergy.objects.create(
        patient=patient, substance=substance, reaction=(reaction or "").strip(), severity=severity
    )
    if patient.no_known_allergies:
        Patient.objects.filter(pk=patient.pk).update(no_known_allergies=False)
        patient.no_known_allergies = False
    record(actor=by, action="allergy.create", target=allergy)
    return allergy


@transaction.atomic
def record_no_known_allergies(*, by, patient: Patient) -> None:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    if patient.allergies.filter(active=True).exists():
        raise InvalidInput("no_known_allergies", "the patient has active allergies recorded")
    Patient.objects.filter(pk=patient.pk).update(no_known_allergies=True)
    patient.no_known_allergies = True
    record(actor=by, action="allergy.none_known", target=patient)


@transaction.atomic
def add_medication(
    *,
    by,
    patient: Patient,
    name: str,
    drug_class: str = "other",
    dose: str = "",
    frequency: str = "",
    started_on: date | None = None,
) -> MedicationStatement:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    errors = FieldErrors()
    name = errors.check(_required, "name", name)
    drug_class = errors.check(_choice, "drug_class", drug_class, DrugClass)
    if started_on and started_on > timezone.localdate():
        errors.errors.append(InvalidInput("started_on", "cannot be in the future"))
    errors.raise_any()
    medication = MedicationStatement.objects.create(
        patient=patient,
        name=name,
        drug_class=drug_class,
        dose=(dose or "").strip(),
        frequency=(frequency or "").strip(),
        started_on=started_on,
    )
    record(actor=by, action="medication.create", target=medication)
    return medication


@transaction.atomic
def stop_medication(*, by, medication: MedicationStatement, stopped_on: date) -> None:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    if medication.started_on and stopped_on < medication.started_on:
        raise InvalidInput("stopped_on", "cannot be before the medication was started")
    medication.stopped_on = stopped_on
    medication.save(update_fields=["stopped_on"])
    record(actor=by, action="medication.stop", target=medication)


@transaction.atomic
def add_diagnosis(
    *,
    by,
    patient: Patient,
    code: str,
    is_primary: bool = False,
    diagnosed_on: date | None = None,
) -> Diagnosis:
    check_permission(by, Permission.PATIENT_EDIT_DIAGNOSES)
    code = icd10.validate(code or "")
    if diagnosed_on and diagnosed_on > timezone.localdate():
        raise InvalidInput("diagnosed_on", "cannot be in the future")
    active = Diagnosis.objects.select_for_update().filter(patient=patient, status="active")
    if active.filter(code=code).exists():
        raise InvalidInput("code", "is already an active diagnosis for this patient")
    if is_primary:
        # One primary diagnosis at a time: the new one takes over.
        active.filter(is_primary=True).update(is_primary=False)
    try:
        with transaction.atomic():
            diagnosis = Diagnosis.objects.create(
                patient=patient,
                code=code,
                description=icd10.describe(code),
                is_primary=is_primary,
                diagnosed_on=diagnosed_on,
                recorded_by_id=by.pk,
            )
    except IntegrityError:
        raise InvalidInput("code", "is already an active diagnosis for this patient") from None
    record(
        actor=by,
        action="diagnosis.create",
        target=diagnosis,
        detail={"code": code, "primary": is_primary},
    )
    return diagnosis


@transaction.atomic
def resolve_diagnosis(*, by, diagnosis: Diagnosis) -> None:
    check_permission(by, Permission.PATIENT_EDIT_DIAGNOSES)
    diagnosis.status = Diagnosis.Status.RESOLVED
    diagnosis.is_primary = False
    diagnosis.save(update_fields=["status", "is_primary"])
    record(actor=by, action="diagnosis.resolve", target=diagnosis, detail={"code": diagnosis.code})


@transaction.atomic
def add_medication_trial(
    *,
    by,
    patient: Patient,
    drug: str,
    drug_class: str,
    weeks: int,
    response: str,
    adequate_dose: bool = False,
    max_daily_dose_mg=None,
    side_effects: str = "",
    started_on: date | None = None,
) -> MedicationTrial:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    errors = FieldErrors()
    drug = errors.check(_required, "drug", drug)
    drug_class = errors.check(_choice, "drug_class", drug_class, DrugClass)
    response = errors.check(_choice, "response", response, Response)
    if weeks is None or not 0 <= int(weeks) <= 1040:
        errors.errors.append(InvalidInput("weeks", "must be a whole number from 0 to 1040"))
    dose = None
    if max_daily_dose_mg not in (None, ""):
        dose = errors.check(units.parse_decimal, "max_daily_dose_mg", max_daily_dose_mg)
        if dose is not None and dose <= 0:
            errors.errors.append(InvalidInput("max_daily_dose_mg", "must be more than 0"))
    errors.raise_any()
    trial = MedicationTrial.objects.create(
        patient=patient,
        drug=drug,
        drug_class=drug_class,
        weeks=int(weeks),
        response=response,
        adequate_dose=bool(adequate_dose),
        max_daily_dose_mg=dose,
        side_effects=(side_effects or "").strip(),
        started_on=started_on,
    )
    record(actor=by, action="medication_trial.create", target=trial)
    return trial


@transaction.atomic
def add_psychotherapy_course(
    *,
    by,
    patient: Patient,
    modality: str,
    sessions: int,
    response: str,
    ended_on: date | None = None,
    notes: str = "",
) -> PsychotherapyCourse:
    check_permission(by, Permission.PATIENT_EDIT_CLINICAL)
    errors = FieldErrors()
    modality = errors.check(_choice, "modality", modality, PsychotherapyModality)
    response = errors.check(_choice, "response", response, Response)
    if sessions is None or not 0 <= int(sessions) <= 1000:
        errors.errors.append(InvalidInput("sessions", "must be a whole number from 0 to 1000"))
    errors.raise_any()
    course = PsychotherapyCourse.objects.create(
        patient=patient,
        modality=modality,
        sessions=int(sessions),
        response=response,
        ended_on=ended_on,
        notes=(notes or "").strip(),
    )
    record(actor=by, action="psychotherapy_course.create", target=course)
    return course
