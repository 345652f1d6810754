"""Reading patient records: search and the chart, each in a fixed number of queries."""

import re
from datetime import date, datetime

from django.db.models import Prefetch, Q, QuerySet

from kapstone.clinical import treatment_history as th
from kapstone.clinical.demographics import looks_like_record_number, normalise_name
from kapstone.patients.models import BodyMeasurement, Patient

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y")


def parse_search_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def search(query: str) -> QuerySet[Patient]:
    """Find patients by record number, date of birth, or the start of any of their names.

    Several words narrow the search: 'ann smi' finds Ann Smith but not Ann Jones.
    """
    patients = Patient.objects.select_related("home_site")
    text = (query or "").strip()
    if not text:
        return patients
    if looks_like_record_number(text):
        return patients.filter(record_number=text.upper())
    if (dob := parse_search_date(text)) is not None:
        return patients.filter(date_of_birth=dob)
    for word in re.split(r"[\s,]+", normalise_name(text)):
        if word:
            patients = patients.filter(
                Q(last_name_norm__startswith=word)
                | Q(first_name_norm__startswith=word)
                | Q(preferred_name_norm__startswith=word)
            )
    return patients


def chart(patient_id: int) -> Patient:
    """The patient with everything the chart shows, in eight queries whatever its size."""
    return (
        Patient.objects.select_related("home_site")
        .prefetch_related(
            "contacts",
            Prefetch(
                "measurements",
                queryset=BodyMeasurement.objects.order_by("-measured_at", "-pk")[:20],
                to_attr="recent_measurements",
            ),
            "allergies",
            "medications",
            "diagnoses",
            "medication_trials",
            "psychotherapy_courses",
        )
        .get(pk=patient_id)
    )


def latest(measurements, field: str):
    return next((m for m in measurements if getattr(m, field) is not None), None)


def resistance_summary(patient: Patient, config) -> th.ResistanceSummary:
    rules = th.ResistanceRules.from_config(config.treatment_resistance)
    trials = [
        th.MedicationTrial(
            drug=t.drug,
            drug_class=t.drug_class,
            weeks=t.weeks,
            adequate_dose=t.adequate_dose,
            response=th.Response(t.response),
        )
        for t in patient.medication_trials.all()
    ]
    courses = [
        th.PsychotherapyCourse(
            modality=c.modality, sessions=c.sessions, response=th.Response(c.response)
        )
        for c in patient.psychotherapy_courses.all()
    ]
    return th.summarise(trials, courses, rules)
