"""Reading patient records: search and the chart, each in a fixed number of queries."""

import re
import sys
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
                _starts_with("last_name_norm", word)
                | _starts_with("first_name_norm", word)
                | _starts_with("preferred_name_norm", word)
            )
    return patients


def _starts_with(field: str, word: str) -> Q:
    """`field` starts with `word`, in a form the field's index can answer.

    LIKE 'word%' alone reads every patient on both databases: SQLite's LIKE ignores case, so
    its plain indexes do not apply, and PostgreSQL uses an index for LIKE only under the C
    collation. In code-point order (SQLite's, and PostgreSQL's C and C.UTF-8 collations) every
    string that starts with `word` lies between `word` and `word` with its last character
    moved on by one; that range goes through the index, and the LIKE keeps the meaning exact.
    """
    bounds = {f"{field}__gte": word, f"{field}__startswith": word}
    following = ord(word[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored; skip past them
        following = 0xE000
    if following <= sys.maxunicode:
        bounds[f"{field}__lt"] = word[:-1] + chr(following)
    return Q(**bounds)


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
