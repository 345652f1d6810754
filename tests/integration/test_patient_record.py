"""The patient record's behaviour through its actions, pages and database constraints."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients import actions, queries
from kapstone.patients.models import BodyMeasurement, Diagnosis, Patient, PatientContact


def test_record_numbers_are_issued_in_sequence(make_patient):
    numbers = [make_patient().record_number for _ in range(3)]
    assert numbers == ["K000001", "K000002", "K000003"]


def test_registration_reports_every_bad_field_and_saves_nothing(clinic, clinician):
    with pytest.raises(InvalidInputs) as caught:
        actions.register_patient(
            by=clinician,
            first_name="",
            last_name="Okoye",
            date_of_birth=timezone.localdate() + timedelta(days=1),
            sex_at_birth="sometimes",
            weight="700",
            weight_unit="kg",
        )
    fields = {error.field for error in caught.value.errors}
    assert fields == {"first_name", "date_of_birth", "sex_at_birth", "weight"}
    assert Patient.objects.count() == 0
    assert BodyMeasurement.objects.count() == 0
    assert not AuditEvent.objects.filter(action="patient.create").exists()


def test_weight_in_pounds_is_stored_in_kilograms_with_the_unit_kept(make_patient):
    patient = make_patient(weight="154", weight_unit="lb", height="67", height_unit="in")
    measurement = patient.measurements.get()
    assert measurement.weight_kg == Decimal("69.85")
    assert measurement.weight_unit_entered == "lb"
    assert measurement.height_cm == Decimal("170.2")
    assert measurement.height_unit_entered == "in"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("quin", {"Avery Quinlan"}),
        ("QUINLAN", {"Avery Quinlan"}),
        ("avery quin", {"Avery Quinlan"}),
        ("jose", {"José Ñúñez"}),  # accents folded
        ("nunez", {"José Ñúñez"}),
        ("1985-04-12", {"Avery Quinlan", "José Ñúñez"}),
        ("04/12/1985", {"Avery Quinlan", "José Ñúñez"}),
        ("K000001", {"Avery Quinlan"}),
        ("k000002", {"José Ñúñez"}),
        ("uinlan", set()),  # names match from their start
        ("avery nunez", set()),  # every word must match
    ],
)
def test_search(make_patient, query, expected):
    make_patient(first_name="Avery", last_name="Quinlan")
    make_patient(first_name="José", last_name="Ñúñez")
    make_patient(first_name="Other", last_name="Person", date_of_birth=date(1990, 1, 1))
    found = {f"{p.first_name} {p.last_name}" for p in queries.search(query)}
    assert found == expected


def test_preferred_name_is_searchable(make_patient):
    make_patient(first_name="Margaret", last_name="Holloway", preferred_name="Peggy")
    assert [p.preferred_name for p in queries.search("peggy")] == ["Peggy"]


def test_update_records_changed_field_names_only(patient, clinician):
    changed = actions.update_demographics(
        by=clinician, patient=patient, city="Bangor", first_name=patient.first_name
    )
    assert changed == ["city"]
    event = AuditEvent.objects.filter(action="patient.update").get()
    assert event.detail == {"fields": ["city"]}
    assert actions.update_demographics(by=clinician, patient=patient, city="Bangor") == []


def test_a_new_primary_diagnosis_takes_over(patient, clinician):
    first = actions.add_diagnosis(by=clinician, patient=patient, code="F41.1", is_primary=True)
    second = actions.add_diagnosis(by=clinician, patient=patient, code="F43.10", is_primary=True)
    first.refresh_from_db()
    assert not first.is_primary and second.is_primary
    assert second.description == "Post-traumatic stress disorder, unspecified"


def test_the_same_active_diagnosis_is_refused(patient, clinician):
    actions.add_diagnosis(by=clinician, patient=patient, code="F41.1")
    with pytest.raises(InvalidInput, match="already an active diagnosis"):
        actions.add_diagnosis(by=clinician, patient=patient, code="f41.1")


def test_a_resolved_diagnosis_can_be_recorded_again(patient, clinician):
    diagnosis = actions.add_diagnosis(by=clinician, patient=patient, code="F41.0")
    actions.resolve_diagnosis(by=clinician, diagnosis=diagnosis)
    again = actions.add_diagnosis(by=clinician, patient=patient, code="F41.0")
    assert again.status == "active"


def test_no_known_allergies_conflicts_with_a_recorded_allergy(patient, clinician):
    actions.add_allergy(by=clinician, patient=patient, substance="Penicillin", severity="moderate")
    with pytest.raises(InvalidInput, match="active allergies"):
        actions.record_no_known_allergies(by=clinician, patient=patient)


def test_recording_an_allergy_clears_no_known_allergies(patient, clinician):
    actions.record_no_known_allergies(by=clinician, patient=patient)
    actions.add_allergy(by=clinician, patient=patient, substance="Latex")
    patient.refresh_from_db()
    assert not patient.no_known_allergies


def test_a_contact_must_be_emergency_contact_or_escort(patient, clinician):
    with pytest.raises(InvalidInputs) as caught:
        actions.add_contact(
            by=clinician, patient=patient, name="Sam", relationship="Friend", phone="207-555-0111"
        )
    assert caught.value.errors[0].field == "is_escort"


def test_medication_cannot_stop_before_it_started(patient, clinician):
    medication = actions.add_medication(
        by=clinician, patient=patient, name="Sertraline", started_on=date(2025, 3, 1)
    )
    with pytest.raises(InvalidInput, match="before the medication was started"):
        actions.stop_medication(by=clinician, medication=medication, stopped_on=date(2025, 1, 1))


def test_chart_shows_the_treatment_resistance_summary(patient, clinician, client_for):
    for drug, drug_class in (("Sertraline", "ssri"), ("Venlafaxine XR", "snri")):
        actions.add_medication_trial(
            by=clinician,
            patient=patient,
            drug=drug,
            drug_class=drug_class,
            weeks=8,
            adequate_dose=True,
            response="none",
        )
    actions.add_psychotherapy_course(
        by=clinician, patient=patient, modality="cbt", sessions=12, response="partial"
    )
    body = client_for(Role.PRESCRIBER).get(f"/patients/{patient.pk}/").content.decode()
    assert "2 adequate medication trials failed; 1 adequate psychotherapy course failed" in body
    assert "SNRI, SSRI" in body
    assert "Meets the clinic's definition of treatment-resistant anxiety" in body


def test_chart_lists_each_trial_and_course_in_its_table(patient, clinician, client_for):
    trials = [
        ("Sertraline", "ssri", "150", True, "none", "nausea <mild>", date(2024, 1, 1)),
        ("Buspirone", "buspirone", "37.5", False, "partial", "", date(2023, 1, 1)),
        ("Hydroxyzine", "antihistamine", None, False, "not_tolerated", "", date(2022, 1, 1)),
    ]
    for drug, drug_class, dose, adequate, response, side_effects, started in trials:
        actions.add_medication_trial(
            by=clinician,
            patient=patient,
            drug=drug,
            drug_class=drug_class,
            weeks=10,
            adequate_dose=adequate,
            response=response,
            max_daily_dose_mg=dose,
            side_effects=side_effects,
            started_on=started,
        )
    actions.add_psychotherapy_course(
        by=clinician,
        patient=patient,
        modality="emdr",
        sessions=9,
        response="remission",
        ended_on=date(2025, 6, 30),
    )
    body = client_for(Role.PRESCRIBER).get(f"/patients/{patient.pk}/").content.decode()
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", body)
    assert rows[:4] == [
        (
            "Sertraline</td><td>SSRI</td><td>150 mg/day</td><td>10</td><td>yes</td>"
            "<td>No response</td><td>nausea &lt;mild&gt;"
        ),
        (
            "Buspirone</td><td>Buspirone</td><td>37.50 mg/day</td><td>10</td><td>no</td>"
            "<td>Partial response</td><td>"
        ),
        (
            "Hydroxyzine</td><td>Antihistamine</td><td></td><td>10</td><td>no</td>"
            "<td>Stopped: not tolerated</td><td>"
        ),
        "EMDR</td><td>9</td><td>Remission</td><td>2025-06",
    ]


def test_chart_shows_latest_weight_in_both_units(patient, clinician, client_for):
    actions.record_measurement(by=clinician, patient=patient, weight="165", weight_unit="lb")
    body = client_for(Role.NURSE).get(f"/patients/{patient.pk}/").content.decode()
    assert "74.84 kg (165.0 lb)" in body
    assert "BMI" in body


def test_future_measurement_is_refused(patient, clinician):
    with pytest.raises(InvalidInput, match="future"):
        actions.record_measurement(
            by=clinician,
            patient=patient,
            weight="70",
            measured_at=timezone.now() + timedelta(hours=2),
        )


@pytest.mark.parametrize(
    "make_row",
    [
        lambda p: BodyMeasurement.objects.create(patient=p, measured_at=timezone.now()),
        lambda p: BodyMeasurement.objects.create(
            patient=p, measured_at=timezone.now(), weight_kg=Decimal(700)
        ),
        lambda p: BodyMeasurement.objects.create(
            patient=p, measured_at=timezone.now(), weight_kg=Decimal(0)
        ),
        lambda p: PatientContact.objects.create(patient=p, name="X", relationship="Y", phone="1"),
        lambda p: Diagnosis.objects.bulk_create(
            [
                Diagnosis(patient=p, code="F41.1", description="d", is_primary=True),
                Diagnosis(patient=p, code="F41.0", description="d", is_primary=True),
            ]
        ),
        lambda p: Diagnosis.objects.bulk_create(
            [
                Diagnosis(patient=p, code="F41.1", description="d"),
                Diagnosis(patient=p, code="F41.1", description="d"),
            ]
        ),
        lambda p: Patient.objects.filter(pk=p.pk).update(first_name=""),
    ],
    ids=[
        "measurement-empty",
        "weight-700",
        "weight-0",
        "contact-without-purpose",
        "two-primary",
        "duplicate-active",
        "blank-name",
    ],
)
def test_database_constraints_hold_without_the_actions(patient, make_row):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_row(patient)


def test_field_error_is_linked_to_its_input(clinic, client_for):
    response = client_for(Role.FRONT_DESK).post(
        "/patients/new/",
        {
            "first_name": "A",
            "last_name": "B",
            "date_of_birth": "1980-01-01",
            "sex_at_birth": "female",
            "weight": "700",
            "weight_unit": "kg",
            "height_unit": "cm",
        },
    )
    html = response.content.decode()
    assert 'aria-describedby="id_weight_error"' in html
    assert '<div id="id_weight_error"><p class="error" role="alert">Weight must be between' in html
