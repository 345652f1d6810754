"""Patient record, staff and audit pages against every role.

The checks live in tests/integration/access.py. A second, hand-written table pins the facts a
wrong role map would break.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import resolve, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.patients import actions
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
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    count_of,
    events_since,
    last_seq,
    no_args,
    send,
)


@dataclass
class World:
    """One patient with something to resolve and something to stop, and no allergies yet."""

    patient: Patient
    diagnosis: Diagnosis
    medication: MedicationStatement
    # A member of staff with an authenticator, for the admin's staff actions.
    colleague: object


@pytest.fixture
def world(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    diagnosis = actions.add_diagnosis(by=clinician, patient=patient, code="F41.1")
    medication = actions.add_medication(
        by=clinician, patient=patient, name="Sertraline", drug_class="ssri"
    )
    return World(patient=patient, diagnosis=diagnosis, medication=medication, colleague=clinician)


NEW_PATIENT = {
    "first_name": "Jordan",
    "last_name": "Newcombe",
    "date_of_birth": "1990-02-03",
    "sex_at_birth": "male",
    "weight": "80",
    "weight_unit": "kg",
    "height": "",
    "height_unit": "cm",
}

ENTRY_POSTS = {
    "measurement": (
        P.PATIENT_EDIT_CLINICAL,
        {"weight": "72", "weight_unit": "kg", "height": "", "height_unit": "cm"},
        "measurement.create",
        BodyMeasurement,
    ),
    "contact": (
        P.PATIENT_EDIT_DEMOGRAPHICS,
        {"name": "Sam Escort", "relationship": "partner", "phone": "555-0100", "is_escort": "on"},
        "contact.create",
        PatientContact,
    ),
    "allergy": (
        P.PATIENT_EDIT_CLINICAL,
        {"substance": "Penicillin", "reaction": "rash", "severity": "mild"},
        "allergy.create",
        Allergy,
    ),
    "medication": (
        P.PATIENT_EDIT_CLINICAL,
        {"name": "Propranolol", "drug_class": "beta_blocker", "dose": "10 mg"},
        "medication.create",
        MedicationStatement,
    ),
    "diagnosis": (
        P.PATIENT_EDIT_DIAGNOSES,
        {"code": "F40.10", "diagnosed_on": ""},
        "diagnosis.create",
        Diagnosis,
    ),
    "medication-trial": (
        P.PATIENT_EDIT_CLINICAL,
        {
            "drug": "Escitalopram",
            "drug_class": "ssri",
            "max_daily_dose_mg": "20",
            "weeks": "12",
            "adequate_dose": "on",
            "response": "none",
        },
        "medication_trial.create",
        MedicationTrial,
    ),
    "psychotherapy-course": (
        P.PATIENT_EDIT_CLINICAL,
        {"modality": "cbt", "sessions": "16", "response": "partial"},
        "psychotherapy_course.create",
        PsychotherapyCourse,
    ),
}


def _entry_pages() -> list[Page]:
    pages = []
    for slug, (permission, data, action, model) in ENTRY_POSTS.items():
        pages.append(Page(f"add-{slug}-get", "get", f"add_{slug}", permission))
        pages.append(
            Page(
                f"add-{slug}-post",
                "post",
                f"add_{slug}",
                permission,
                data=data,
                audit=action,
                state=count_of(model),
            )
        )
    return pages


PAGES = [
    Page("home", "get", "home", None, args=no_args),
    Page("account", "get", "account", None, args=no_args),
    Page(
        "patient-list",
        "get",
        "patient_list",
        P.PATIENT_VIEW_DEMOGRAPHICS,
        args=no_args,
        audit="patient.list",
    ),
    Page(
        "patient-search",
        "get",
        "patient_list",
        P.PATIENT_VIEW_DEMOGRAPHICS,
        args=no_args,
        query="q=Testpatient",
        audit="patient.list",
    ),
    Page("patient-new-get", "get", "patient_new", P.PATIENT_REGISTER, args=no_args),
    Page(
        "patient-new-post",
        "post",
        "patient_new",
        P.PATIENT_REGISTER,
        args=no_args,
        data=NEW_PATIENT,
        audit="patient.create",
        state=lambda w: Patient.objects.count(),
        audited_patient=lambda w, response: resolve(response["Location"]).kwargs["pk"],
    ),
    Page("chart", "get", "patient_chart", P.PATIENT_VIEW_DEMOGRAPHICS, audit="patient.view"),
    Page("edit-get", "get", "patient_edit", P.PATIENT_EDIT_DEMOGRAPHICS, audit="patient.view"),
    Page(
        "edit-post",
        "post",
        "patient_edit",
        P.PATIENT_EDIT_DEMOGRAPHICS,
        data={
            "first_name": "Renamed",
            "last_name": "Testpatient",
            "date_of_birth": "1985-04-12",
            "sex_at_birth": "female",
        },
        audit="patient.update",
        state=lambda w: Patient.objects.values_list("first_name", "last_name").get(pk=w.patient.pk),
    ),
    *_entry_pages(),
    Page(
        "diagnosis-resolve",
        "post",
        "diagnosis_resolve",
        P.PATIENT_EDIT_DIAGNOSES,
        args=lambda w: [w.patient.pk, w.diagnosis.pk],
        audit="diagnosis.resolve",
        state=lambda w: Diagnosis.objects.get(pk=w.diagnosis.pk).status,
    ),
    Page(
        "medication-stop",
        "post",
        "medication_stop",
        P.PATIENT_EDIT_CLINICAL,
        args=lambda w: [w.patient.pk, w.medication.pk],
        audit="medication.stop",
        state=lambda w: MedicationStatement.objects.get(pk=w.medication.pk).stopped_on,
    ),
    Page(
        "no-known-allergies",
        "post",
        "no_known_allergies",
        P.PATIENT_EDIT_CLINICAL,
        audit="allergy.none_known",
        state=lambda w: Patient.objects.get(pk=w.patient.pk).no_known_allergies,
    ),
    Page("staff-list", "get", "staff_list", P.STAFF_VIEW, args=no_args),
    Page("staff-new-get", "get", "staff_new", P.STAFF_MANAGE, args=no_args),
    Page(
        "staff-new-post",
        "post",
        "staff_new",
        P.STAFF_MANAGE,
        args=no_args,
        data={
            "username": "newcolleague",
            "first_name": "New",
            "last_name": "Colleague",
            "roles": ["nurse"],
            "password": "a long enough passphrase",
        },
        audit="staff.create",
        names_patient=False,
        state=lambda w: get_user_model().objects.count(),
        redirects_to="staff_list",
    ),
    Page(
        "staff-reset-two-factor",
        "post",
        "staff_reset_two_factor",
        P.STAFF_MANAGE,
        args=lambda w: [w.colleague.pk],
        audit="staff.reset_two_factor",
        names_patient=False,
        state=lambda w: TOTPDevice.objects.filter(user=w.colleague).count(),
        redirects_to="staff_list",
    ),
    Page(
        "audit-list",
        "get",
        "audit_list",
        P.AUDIT_VIEW,
        args=no_args,
        audit="audit.view",
        names_patient=False,
    ),
    Page(
        "audit-export",
        "get",
        "audit_export",
        P.AUDIT_EXPORT,
        args=no_args,
        audit="audit.export",
        names_patient=False,
    ),
]
PAGES_BY_ID = {page.id: page for page in PAGES}
PATIENT_PAGES = [page for page in PAGES if page.url_name.startswith(("patient", "add_"))] + [
    PAGES_BY_ID[i] for i in ("diagnosis-resolve", "medication-stop", "no-known-allergies")
]


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_access_follows_role_map(page, role, world, client_for):
    check_page_access(page, role, world, client_for)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_declares_the_tables_permission(page, world):
    check_declared_permission(page, world)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_anonymous_is_sent_to_login(page, world, client):
    check_anonymous_is_sent_to_login(page, world, client)


# Facts written out by hand: if the role map itself is wrong, roles_with() agrees with it and
# the matrix above passes, so these pin what the clinic's policy says.
_DIAGNOSIS_WRITERS = {Role.PRESCRIBER, Role.THERAPIST}
CRITICAL = [
    *[(Role.RESEARCHER, page.id, 403) for page in PATIENT_PAGES],
    (Role.RESEARCHER, "audit-list", 403),
    (Role.CLINIC_ADMIN, "chart", 403),
    (Role.CLINIC_ADMIN, "patient-list", 403),
    (Role.CLINIC_ADMIN, "edit-get", 403),
    (Role.CLINIC_ADMIN, "audit-list", 200),
    (Role.CLINIC_ADMIN, "audit-export", 200),
    (Role.CLINIC_ADMIN, "staff-list", 200),
    (Role.PRESCRIBER, "staff-list", 403),
    (Role.PRESCRIBER, "audit-list", 403),
    (Role.BILLING, "chart", 200),
    (Role.BILLING, "add-measurement-get", 403),
    (Role.BILLING, "add-allergy-post", 403),
    (Role.BILLING, "add-diagnosis-get", 403),
    (Role.BILLING, "audit-list", 403),
    (Role.FRONT_DESK, "patient-new-post", 302),
    (Role.FRONT_DESK, "edit-post", 302),
    (Role.FRONT_DESK, "add-contact-post", 302),
    (Role.FRONT_DESK, "add-measurement-post", 403),
    (Role.NURSE, "add-measurement-post", 302),
    (Role.NURSE, "patient-new-post", 302),
    (Role.THERAPIST, "patient-new-post", 403),
    *[
        (role, "add-diagnosis-post", 302 if role in _DIAGNOSIS_WRITERS else 403)
        for role in ALL_ROLES
    ],
    *[
        (role, "diagnosis-resolve", 302 if role in _DIAGNOSIS_WRITERS else 403)
        for role in ALL_ROLES
    ],
]


@pytest.mark.parametrize(
    ("role", "page_id", "status"), CRITICAL, ids=[f"{r}-{p}" for r, p, _ in CRITICAL]
)
def test_policy_critical_facts(role, page_id, status, world, client_for):
    # Arrange
    client = client_for(role)

    # Act
    response = send(client, PAGES_BY_ID[page_id], world)

    # Assert
    assert response.status_code == status


CHART_HEADINGS = ("Diagnoses", "Weight and height", "Allergies", "Treatment history")
CLINICAL = {"Diagnoses", "Weight and height", "Allergies", "Treatment history"}


@pytest.mark.parametrize(
    ("role", "shown", "sections"),
    [
        (Role.PRESCRIBER, CLINICAL, ["demographics", "clinical", "diagnoses"]),
        (Role.NURSE, CLINICAL, ["demographics", "clinical", "diagnoses"]),
        (Role.THERAPIST, CLINICAL, ["demographics", "clinical", "diagnoses"]),
        (Role.FRONT_DESK, set(), ["demographics"]),
        (Role.BILLING, {"Diagnoses"}, ["demographics", "diagnoses"]),
    ],
    ids=["prescriber", "nurse", "therapist", "front_desk", "billing"],
)
def test_chart_sections_follow_role(role, shown, sections, world, client_for):
    # Arrange
    client = client_for(role)
    before_seq = last_seq()

    # Act
    response = client.get(reverse("patient_chart", args=[world.patient.pk]))

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    assert world.patient.record_number in html
    for heading in CHART_HEADINGS:
        assert (f"<h2>{heading}</h2>" in html) == (heading in shown), heading
    assert ("F41.1" in html) == ("Diagnoses" in shown)
    assert ("Sertraline" in html) == ("Weight and height" in shown)
    (event,) = events_since(before_seq)
    assert event.detail == {"sections": sections}


@pytest.mark.parametrize("slug", list(ENTRY_POSTS), ids=str)
def test_entry_form_open_is_audited(slug, world, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER, Role.NURSE)
    before_seq = last_seq()

    # Act
    response = client.get(reverse(f"add_{slug}", args=[world.patient.pk]))

    # Assert
    assert response.status_code == 200
    assert world.patient.record_number in response.content.decode()
    assert [(e.action, e.patient_id) for e in events_since(before_seq)] == [
        ("patient.view", world.patient.pk)
    ]


# Forms that fail say which field and which rule, and save nothing.


def _new_patient(**overrides) -> dict:
    return {**NEW_PATIENT, **overrides}


def _field_errors(html: str) -> dict[str, str]:
    """The error shown beside each field, keyed by field name."""
    return {
        name: unescape(message)
        for name, message in re.findall(
            r'<div id="id_(\w+)_error"><p class="error"[^>]*>([^<]*)</p>', html
        )
    }


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_new_patient(weight="700"), "weight", ("Weight", "between")),
        (_new_patient(weight="heavy"), "weight", ("Weight", "must be a number")),
        (_new_patient(weight="70", weight_unit="st"), "weight_unit", ("valid choice",)),
        (
            _new_patient(date_of_birth=str(timezone.localdate() + timedelta(days=1))),
            "date_of_birth",
            ("Date of birth", "cannot be in the future"),
        ),
        (_new_patient(first_name=""), "first_name", ("required",)),
    ],
    ids=["weight-out-of-range", "weight-not-a-number", "unknown-unit", "born-tomorrow", "no-name"],
)
def test_register_invalid_names_field_and_saves_nothing(data, field, words, clinic, client_for):
    # Arrange
    client = client_for(Role.FRONT_DESK)
    patients_before = Patient.objects.count()
    before_seq = last_seq()

    # Act
    response = client.post(reverse("patient_new"), data)

    # Assert
    html = response.content.decode()
    errors = _field_errors(html)
    assert response.status_code == 422
    assert "Nothing was saved" in html
    assert list(errors) == [field]
    for word in words:
        assert word in errors[field]
    assert Patient.objects.count() == patients_before
    assert events_since(before_seq) == []


def test_register_weight_in_pounds_is_stored_in_kilograms(clinic, client_for):
    # Arrange
    client = client_for(Role.FRONT_DESK)

    # Act
    response = client.post(reverse("patient_new"), _new_patient(weight="154", weight_unit="lb"))

    # Assert
    assert response.status_code == 302
    patient = Patient.objects.get(pk=resolve(response["Location"]).kwargs["pk"])
    measurement = BodyMeasurement.objects.get(patient=patient)
    assert str(measurement.weight_kg) == "69.85"
    assert measurement.weight_unit_entered == "lb"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("F40.2", ("is a category", "F40.2")),
        ("X99.999", ("is not in the ICD-10-CM code set",)),
        ("F4", ("must be an ICD-10-CM code",)),
        ("F41.1", ("already an active diagnosis",)),
    ],
    ids=["category", "unknown-code", "malformed", "duplicate"],
)
def test_add_diagnosis_invalid_is_refused(code, words, world, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    diagnoses_before = Diagnosis.objects.count()
    before_seq = last_seq()

    # Act
    response = client.post(
        reverse("add_diagnosis", args=[world.patient.pk]), {"code": code, "diagnosed_on": ""}
    )

    # Assert
    errors = _field_errors(response.content.decode())
    assert response.status_code == 422
    assert list(errors) == ["code"]
    assert errors["code"].startswith("ICD-10-CM code ")
    for word in words:
        assert word in errors["code"]
    assert Diagnosis.objects.count() == diagnoses_before
    # Nothing was written; showing the form again (it names the patient) is the only event.
    assert [e.action for e in events_since(before_seq)] == ["patient.view"]


def test_add_diagnosis_lowercase_without_dot_is_normalised(world, client_for):
    # Arrange
    client = client_for(Role.THERAPIST)

    # Act
    response = client.post(
        reverse("add_diagnosis", args=[world.patient.pk]), {"code": "f4310", "is_primary": "on"}
    )

    # Assert
    assert response.status_code == 302
    added = Diagnosis.objects.get(patient=world.patient, code="F43.10")
    assert added.is_primary
    assert added.description
