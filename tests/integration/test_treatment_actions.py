"""Screening, consent and treatment plans through their actions, against real records."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.audit.models import AuditEvent
from kapstone.clinical.dose import DoseOutOfRange
from kapstone.core.models import Organization
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.patients import actions as patient_actions
from kapstone.treatment import actions
from kapstone.treatment.models import Screening, TreatmentPlan

NO = {
    "aneurysmal_vascular_disease": False,
    "arteriovenous_malformation": False,
    "intracerebral_haemorrhage": False,
    "psychosis_history": False,
    "pregnant": False,
    "breastfeeding": False,
    "cardiovascular_disease": False,
    "substance_use_history": False,
    "fear_of_altered_states": False,
}
PASSWORD = "a long co-signer passphrase"
PLAN = {
    "program": "standard",
    "route": "iv",
    "sessions_per_week": "1",
    "planned_dosing_sessions": 6,
    "modalities": ["act"],
    "goals": "Fewer panic attacks\nBack to driving to work",
    "titration": "Up to 0.75 mg/kg after two sessions if tolerated",
}


@pytest.fixture
def prescriber(make_staff):
    return make_staff(Role.PRESCRIBER)


@pytest.fixture
def second_prescriber(make_staff):
    return make_staff(Role.PRESCRIBER, password=PASSWORD)


@pytest.fixture
def nurse(make_staff):
    return make_staff(Role.NURSE)


@pytest.fixture
def ready_patient(make_patient, clinician):
    """A patient whose record answers every fact screening reads from it."""
    patient = make_patient()
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)
    patient_actions.add_contact(
        by=clinician,
        patient=patient,
        name="Sam Escort",
        relationship="partner",
        phone="555 0100",
        is_escort=True,
    )
    assessment_actions.record_assessment(
        by=clinician, patient=patient, instrument="auditc", answers={"q1": 1, "q2": 0, "q3": 0}
    )
    assessment_actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="dast10",
        answers={f"q{i}": (i == 3) for i in range(1, 11)},
    )
    return patient


def bp(systolic=120, diastolic=80):
    from kapstone.clinical.eligibility import BloodPressure

    return BloodPressure(systolic, diastolic)


def eligible(patient, by):
    return actions.screen_patient(by=by, patient=patient, answers=NO, blood_pressure=bp())


def signable(patient, by):
    eligible(patient, by)
    actions.record_consent(by=by, patient=patient)
    return actions.draft_plan(by=by, patient=patient, **PLAN)


# --- Screening -------------------------------------------------------------------------------


def test_screening_reads_the_record_and_stores_the_outcome(ready_patient, nurse):
    screening = eligible(ready_patient, nurse)

    assert screening.outcome == "eligible"
    assert screening.facts["has_escort"] is True
    assert screening.facts["allergies"] == []
    assert set(screening.facts["scores"]) == {"auditc", "dast10"}
    assert screening.rule_set_version == "v1"
    event = AuditEvent.objects.filter(action="screening.create").get()
    assert event.patient_id == ready_patient.pk


def test_screening_gives_every_reason_from_the_record(ready_patient, clinician, nurse):
    patient_actions.add_diagnosis(by=clinician, patient=ready_patient, code="F20.0")
    patient_actions.add_allergy(by=clinician, patient=ready_patient, substance="Ketamine")

    screening = actions.screen_patient(
        by=nurse, patient=ready_patient, answers=NO, blood_pressure=bp(150, 85)
    )

    met = {f["rule_id"]: f for f in screening.findings if f["status"] == "met"}
    assert screening.outcome == "not_eligible"
    assert {"psychosis", "ketamine_hypersensitivity", "elevated_blood_pressure"} <= set(met)
    assert all(met[rule]["source"] for rule in met)


def test_unknown_facts_are_listed_not_passed_over(make_patient, nurse):
    patient = make_patient()

    screening = actions.screen_patient(by=nurse, patient=patient, answers={})

    assert screening.outcome == "incomplete"
    needs = {need for f in screening.findings for need in f["needs"]}
    assert {"allergies", "blood_pressure", "auditc", "pregnant"} <= needs


def test_no_escort_is_a_precaution(make_patient, clinician, nurse):
    patient = make_patient()
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)

    screening = actions.screen_patient(by=nurse, patient=patient, answers=NO, blood_pressure=bp())

    assert any(f["rule_id"] == "no_escort" and f["status"] == "met" for f in screening.findings)


def test_a_rule_the_clinic_switched_off_is_not_applied(make_patient, clinician, nurse):
    # Arrange
    org = Organization.current()
    org.settings_overrides = {"eligibility": {"rules": {"no_escort": {"enabled": False}}}}
    org.save()
    patient = make_patient()
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)

    # Act
    screening = actions.screen_patient(by=nurse, patient=patient, answers=NO, blood_pressure=bp())

    # Assert
    assert not any(f["rule_id"] == "no_escort" and f["status"] == "met" for f in screening.findings)


def test_only_a_prescriber_overrides_with_a_reason(ready_patient, nurse, prescriber):
    screening = actions.screen_patient(
        by=nurse, patient=ready_patient, answers={**NO, "pregnant": True}, blood_pressure=bp()
    )
    assert screening.outcome == "not_eligible"

    with pytest.raises(AccessDenied):
        actions.override_eligibility(by=nurse, screening=screening, reason="x" * 40)
    with pytest.raises(InvalidInput) as refused:
        actions.override_eligibility(by=prescriber, screening=screening, reason="ok")
    assert refused.value.field == "reason"

    done = actions.override_eligibility(
        by=prescriber, screening=screening, reason="Pregnancy test negative on the day"
    )
    assert done.overridden_by == prescriber and done.overridden_at is not None
    assert AuditEvent.objects.filter(action="screening.override").count() == 1


def test_an_eligible_outcome_is_not_overridden(ready_patient, prescriber):
    screening = eligible(ready_patient, prescriber)

    with pytest.raises(InvalidInput) as refused:
        actions.override_eligibility(by=prescriber, screening=screening, reason="x" * 20)
    assert refused.value.field == "outcome"


# --- Plans -----------------------------------------------------------------------------------


def test_draft_takes_the_starting_dose_from_the_latest_weight(ready_patient, nurse):
    plan = actions.draft_plan(by=nurse, patient=ready_patient, concentration_mg_per_ml="10", **PLAN)

    assert plan.version == 1 and plan.status == "draft"
    assert plan.weight_kg == Decimal(70)
    assert plan.dose_mg == Decimal(35)
    assert plan.volume_ml == Decimal("3.5")
    assert plan.infusion_minutes == 40


def test_draft_reports_every_bad_field(ready_patient, nurse):
    with pytest.raises(InvalidInputs) as refused:
        actions.draft_plan(
            by=nurse,
            patient=ready_patient,
            program="standard",
            route="iv",
            sessions_per_week="9",
            planned_dosing_sessions=0,
            goals=" ",
        )
    fields = {e.field for e in refused.value.errors}
    assert {"sessions_per_week", "planned_dosing_sessions", "modalities", "goals"} <= fields
    assert not TreatmentPlan.objects.exists()


def test_a_dose_outside_the_range_is_refused(ready_patient, prescriber):
    with pytest.raises(DoseOutOfRange):
        actions.draft_plan(by=prescriber, patient=ready_patient, dose_mg="140", **PLAN)
    assert not TreatmentPlan.objects.exists()


def test_a_dose_override_needs_a_second_prescriber_and_their_password(
    ready_patient, prescriber, second_prescriber, nurse, make_staff
):
    reason = "Partial response at the top of the range"
    attempts = [
        ({"dose_cosigner": None}, "dose_cosigner"),
        ({"dose_cosigner": prescriber, "dose_cosigner_password": PASSWORD}, "dose_cosigner"),
        (
            {"dose_cosigner": second_prescriber, "dose_cosigner_password": "wrong"},
            "dose_cosigner_password",
        ),
        (
            {
                "dose_cosigner": make_staff(Role.NURSE, password=PASSWORD),
                "dose_cosigner_password": PASSWORD,
            },
            "co_signer",
        ),
    ]
    for extra, field in attempts:
        with pytest.raises(InvalidInputs) as refused:
            actions.draft_plan(
                by=prescriber,
                patient=ready_patient,
                dose_mg="140",
                dose_override_reason=reason,
                **extra,
                **PLAN,
            )
        assert field in {e.field for e in refused.value.errors}
    with pytest.raises(InvalidInputs) as refused:
        actions.draft_plan(
            by=nurse,
            patient=ready_patient,
            dose_mg="140",
            dose_override_reason=reason,
            dose_cosigner=second_prescriber,
            dose_cosigner_password=PASSWORD,
            **PLAN,
        )
    assert "prescriber" in {e.field for e in refused.value.errors}

    plan = actions.draft_plan(
        by=prescriber,
        patient=ready_patient,
        dose_mg="140",
        dose_override_reason=reason,
        dose_cosigner=second_prescriber,
        dose_cosigner_password=PASSWORD,
        **PLAN,
    )
    assert plan.dose_mg == Decimal(140)
    assert (plan.dose_override_by, plan.dose_cosigned_by) == (prescriber, second_prescriber)


def test_only_a_prescriber_signs(ready_patient, nurse, prescriber):
    plan = signable(ready_patient, nurse)

    with pytest.raises(AccessDenied):
        actions.sign_plan(by=nurse, plan=plan)
    signed = actions.sign_plan(by=prescriber, plan=plan)

    assert signed.status == "signed" and signed.signed_by == prescriber
    assert signed.consent_form_version == actions.consent_form_version() == "1"
    assert AuditEvent.objects.filter(action="plan.sign").count() == 1


def test_signing_needs_consent(ready_patient, prescriber):
    eligible(ready_patient, prescriber)
    plan = actions.draft_plan(by=prescriber, patient=ready_patient, **PLAN)

    with pytest.raises(InvalidInput) as refused:
        actions.sign_plan(by=prescriber, plan=plan)
    assert refused.value.field == "consent"

    actions.record_consent(by=prescriber, patient=ready_patient, form_version="0")
    with pytest.raises(InvalidInput) as refused:
        actions.sign_plan(by=prescriber, plan=plan)
    assert refused.value.field == "consent"
    assert TreatmentPlan.objects.get(pk=plan.pk).status == "draft"


def test_signing_needs_an_eligible_or_overridden_screening(ready_patient, prescriber):
    actions.record_consent(by=prescriber, patient=ready_patient)
    plan = actions.draft_plan(by=prescriber, patient=ready_patient, **PLAN)
    screening = actions.screen_patient(
        by=prescriber, patient=ready_patient, answers={**NO, "pregnant": True}, blood_pressure=bp()
    )

    with pytest.raises(InvalidInput) as refused:
        actions.sign_plan(by=prescriber, plan=plan)
    assert refused.value.field == "screening"

    actions.override_eligibility(by=prescriber, screening=screening, reason="Test was negative")
    assert actions.sign_plan(by=prescriber, plan=plan).status == "signed"


def test_a_signed_plan_is_frozen(ready_patient, prescriber):
    plan = actions.sign_plan(by=prescriber, plan=signable(ready_patient, prescriber))

    with pytest.raises(InvalidInput) as refused:
        actions.amend_plan(by=prescriber, plan=plan, **{**PLAN, "goals": "Something else"})
    assert refused.value.field == "status"
    assert TreatmentPlan.objects.get(pk=plan.pk).goals == PLAN["goals"]


def test_a_draft_can_be_amended(ready_patient, nurse):
    plan = actions.draft_plan(by=nurse, patient=ready_patient, **PLAN)

    amended = actions.amend_plan(by=nurse, plan=plan, **{**PLAN, "goals": "Sleep through"})

    assert amended.goals == "Sleep through" and amended.version == 1
    assert AuditEvent.objects.get(action="plan.update").detail["fields"] == ["goals"]


def test_revise_makes_the_next_version_and_signing_it_supersedes(ready_patient, prescriber):
    first = actions.sign_plan(by=prescriber, plan=signable(ready_patient, prescriber))

    draft = actions.revise_plan(by=prescriber, plan=first)
    assert (draft.version, draft.status, draft.supersedes_id) == (2, "draft", first.pk)
    assert TreatmentPlan.objects.get(pk=first.pk).status == "signed"
    with pytest.raises(InvalidInput):
        actions.revise_plan(by=prescriber, plan=draft)

    actions.sign_plan(by=prescriber, plan=draft)
    statuses = dict(TreatmentPlan.objects.values_list("version", "status"))
    assert statuses == {1: "superseded", 2: "signed"}


# --- Database constraints --------------------------------------------------------------------


def _violates(**changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        yield_ = changes.pop("model")
        yield_.objects.filter(pk=changes.pop("pk")).update(**changes)


def test_database_refuses_a_second_signed_plan(ready_patient, prescriber):
    first = actions.sign_plan(by=prescriber, plan=signable(ready_patient, prescriber))
    draft = actions.revise_plan(by=prescriber, plan=first)

    _violates(
        model=TreatmentPlan,
        pk=draft.pk,
        status="signed",
        signed_by=prescriber,
        signed_at=timezone.now(),
        consent_form_version="1",
    )
    _violates(model=TreatmentPlan, pk=draft.pk, version=1)
    _violates(model=TreatmentPlan, pk=draft.pk, status="approved")


def test_database_refuses_an_unsigned_signature_and_a_self_cosigned_dose(ready_patient, prescriber):
    plan = actions.draft_plan(by=prescriber, patient=ready_patient, **PLAN)

    _violates(model=TreatmentPlan, pk=plan.pk, status="signed")
    _violates(
        model=TreatmentPlan,
        pk=plan.pk,
        dose_override_reason="reason enough",
        dose_override_by=prescriber,
        dose_cosigned_by=prescriber,
    )


def test_database_refuses_an_incomplete_or_misplaced_override(ready_patient, prescriber):
    screening = eligible(ready_patient, prescriber)

    _violates(
        model=Screening,
        pk=screening.pk,
        overridden_by=prescriber,
        override_reason="a reason given",
        overridden_at=timezone.now(),
    )
    _violates(model=Screening, pk=screening.pk, outcome="not_eligible", overridden_by=prescriber)
    _violates(model=Screening, pk=screening.pk, outcome="maybe")
