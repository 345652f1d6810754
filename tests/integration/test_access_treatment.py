"""Eligibility screening, consent and treatment plans, against every role."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.clinical.eligibility import BloodPressure
from kapstone.patients import actions as patient_actions
from kapstone.patients.models import Patient
from kapstone.treatment import actions
from kapstone.treatment.models import Consent, PresentationReview, Screening, TreatmentPlan
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    count_of,
)

NO = {
    "aneurysmal_vascular_disease": "no",
    "arteriovenous_malformation": "no",
    "intracerebral_haemorrhage": "no",
    "psychosis_history": "no",
    "pregnant": "no",
    "breastfeeding": "no",
    "cardiovascular_disease": "no",
    "substance_use_history": "no",
    "fear_of_altered_states": "no",
}
PLAN = {
    "program": "standard",
    "route": "iv",
    "sessions_per_week": "1",
    "planned_dosing_sessions": 6,
    "modalities": ["act"],
    "goals": "Fewer panic attacks",
}


@dataclass
class World:
    patient: Patient
    refused_screening: Screening
    signed: TreatmentPlan
    draft: TreatmentPlan
    consent: Consent


@pytest.fixture
def world(make_patient, clinician, make_staff):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)
    patient_actions.add_contact(
        by=clinician, patient=patient, name="Sam", relationship="partner", phone="1", is_escort=True
    )
    for instrument, answers in [
        ("auditc", {"q1": 0, "q2": 0, "q3": 0}),
        ("dast10", {f"q{i}": False for i in range(1, 11)}),
    ]:
        assessment_actions.record_assessment(
            by=clinician, patient=patient, instrument=instrument, answers=answers
        )
    answers = {key: value == "yes" for key, value in NO.items()}
    refused = actions.screen_patient(
        by=clinician,
        patient=patient,
        answers={**answers, "pregnant": True},
        blood_pressure=BloodPressure(120, 80),
    )
    actions.screen_patient(
        by=clinician, patient=patient, answers=answers, blood_pressure=BloodPressure(120, 80)
    )
    consent = actions.record_consent(by=clinician, patient=patient)
    prescriber = make_staff(Role.PRESCRIBER)
    plan = actions.draft_plan(by=prescriber, patient=patient, **PLAN)
    signed = actions.sign_plan(by=prescriber, plan=plan)
    draft = actions.revise_plan(by=prescriber, plan=signed)
    return World(
        patient=patient, refused_screening=refused, signed=signed, draft=draft, consent=consent
    )


def plan_status(plan_attr):
    return lambda w: TreatmentPlan.objects.get(pk=getattr(w, plan_attr).pk).status


PLAN_POST = {**PLAN, "modalities": "act", "dose_mg": "", "concentration_mg_per_ml": "10"}

PAGES = [
    Page(
        "treatment-overview",
        "get",
        "treatment_overview",
        P.PATIENT_VIEW_CLINICAL,
        audit="patient.view",
    ),
    Page("screening-new-get", "get", "screening_new", P.SCREENING_RECORD, audit="patient.view"),
    Page(
        "screening-new-post",
        "post",
        "screening_new",
        P.SCREENING_RECORD,
        data={**NO, "systolic": "120", "diastolic": "80"},
        audit="screening.create",
        state=count_of(Screening),
        redirects_to="screening_detail",
    ),
    Page(
        "screening-detail",
        "get",
        "screening_detail",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.patient.pk, w.refused_screening.pk],
        audit="patient.view",
    ),
    Page(
        "screening-override",
        "post",
        "screening_override",
        P.ELIGIBILITY_OVERRIDE,
        args=lambda w: [w.patient.pk, w.refused_screening.pk],
        data={"reason": "Pregnancy test negative on the day"},
        audit="screening.override",
        state=lambda w: Screening.objects.get(pk=w.refused_screening.pk).overridden_by_id,
        redirects_to="screening_detail",
    ),
    Page(
        "consent-record",
        "post",
        "consent_record",
        P.PLAN_DRAFT,
        data={"consented_at": "2026-11-20T09:30"},
        audit="consent.create",
        state=count_of(Consent),
        redirects_to="treatment_overview",
    ),
    Page(
        "consent-withdraw",
        "post",
        "consent_withdraw",
        P.PLAN_DRAFT,
        args=lambda w: [w.patient.pk, w.consent.pk],
        data={"reason": "Patient no longer wishes to go ahead"},
        audit="consent.withdraw",
        state=lambda w: Consent.objects.get(pk=w.consent.pk).withdrawn_at,
        redirects_to="treatment_overview",
    ),
    Page("presentation", "get", "presentation", P.PATIENT_VIEW_CLINICAL, audit="patient.view"),
    Page(
        "presentation-record",
        "post",
        "presentation_record",
        P.SCREENING_RECORD,
        data={"ticked": ["trauma_origin", "avoidance"], "note": "Avoids driving since the crash"},
        audit="presentation.create",
        state=count_of(PresentationReview),
        redirects_to="presentation",
    ),
    Page("plan-new-get", "get", "plan_new", P.PLAN_DRAFT, audit="patient.view"),
    Page(
        "plan-new-post",
        "post",
        "plan_new",
        P.PLAN_DRAFT,
        data=PLAN_POST,
        audit="plan.create",
        state=count_of(TreatmentPlan),
        redirects_to="plan_detail",
    ),
    Page(
        "plan-detail",
        "get",
        "plan_detail",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.patient.pk, w.draft.pk],
        audit="patient.view",
    ),
    Page(
        "plan-edit-get",
        "get",
        "plan_edit",
        P.PLAN_DRAFT,
        args=lambda w: [w.patient.pk, w.draft.pk],
        audit="patient.view",
    ),
    Page(
        "plan-edit-post",
        "post",
        "plan_edit",
        P.PLAN_DRAFT,
        args=lambda w: [w.patient.pk, w.draft.pk],
        data={**PLAN_POST, "goals": "Sleep through the night"},
        audit="plan.update",
        state=lambda w: TreatmentPlan.objects.get(pk=w.draft.pk).goals,
        redirects_to="plan_detail",
    ),
    Page(
        "plan-sign",
        "post",
        "plan_sign",
        P.PLAN_SIGN,
        args=lambda w: [w.patient.pk, w.draft.pk],
        audit="plan.sign",
        state=plan_status("draft"),
        redirects_to="plan_detail",
    ),
    Page(
        "plan-revise",
        "post",
        "plan_revise",
        P.PLAN_DRAFT,
        args=lambda w: [w.patient.pk, w.signed.pk],
        audit="plan.revise",
        state=count_of(TreatmentPlan),
        redirects_to="plan_detail",
    ),
    Page(
        "plan-discard",
        "post",
        "plan_discard",
        P.PLAN_DRAFT,
        args=lambda w: [w.patient.pk, w.draft.pk],
        data={"reason": "Superseded by the new assessment"},
        audit="plan.discard",
        state=plan_status("draft"),
        redirects_to="plan_detail",
    ),
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


def test_plan_page_shows_the_dose_and_the_estimate(world, client_for):
    response = client_for(Role.PRESCRIBER).get(
        f"/patients/{world.patient.pk}/plans/{world.signed.pk}/"
    )

    text = response.content.decode()
    assert response.status_code == 200
    assert "35 mg" in text and "estimate" in text
    assert "Peak (ng/mL)" in text and "Assumptions" in text
    assert "Revise" in text and "Sign plan" not in text


def test_screening_page_lists_reasons_with_sources_and_the_override(world, client_for):
    response = client_for(Role.PRESCRIBER).get(
        f"/patients/{world.patient.pk}/screening/{world.refused_screening.pk}/"
    )

    text = response.content.decode()
    assert "Contraindication: Pregnancy" in text
    assert "Source: clinical-facts.md" in text
    assert "Override" in text


def test_an_invalid_plan_form_saves_nothing(world, client_for):
    before = TreatmentPlan.objects.count()

    response = client_for(Role.NURSE).post(
        f"/patients/{world.patient.pk}/plans/new/", {**PLAN_POST, "dose_mg": "500"}
    )

    assert response.status_code == 422
    assert "Nothing was saved" in response.content.decode()
    assert TreatmentPlan.objects.count() == before


def test_a_plan_form_shows_starting_doses_and_suggestions(world, client_for):
    response = client_for(Role.THERAPIST).get(f"/patients/{world.patient.pk}/plans/new/")

    text = response.content.decode()
    assert "35 mg" in text and "mL at 10 mg/mL" in text
    assert "Suggested integration modalities" in text


def test_plan_page_draws_the_route_comparison_as_an_estimate(world, client_for):
    # Act
    response = client_for(Role.PRESCRIBER).get(
        reverse("plan_detail", args=[world.patient.pk, world.signed.pk])
    )

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    picture = html[html.index('<figure class="exposure">') : html.index("</figure>")]
    assert '<svg role="img" aria-labelledby="pk-title"' in picture
    assert "Estimated plasma ketamine concentration by route" in picture
    assert "(this plan)" in picture
    assert "An estimate from published compartment models" in picture
    assert world.patient.last_name not in picture


def test_a_plan_form_shows_the_anxiety_profile_from_the_ham_a(world, clinician, client_for):
    # Arrange: psychic items (1-6, 14) high, somatic items (7-13) low.
    answers = {f"q{i}": (3 if i in (1, 2, 3, 4, 5, 6, 14) else 1) for i in range(1, 15)}
    assessment_actions.record_assessment(
        by=clinician, patient=world.patient, instrument="hama", answers=answers
    )

    # Act
    response = client_for(Role.THERAPIST).get(f"/patients/{world.patient.pk}/plans/new/")

    # Assert
    text = response.content.decode()
    section = text[text.index("How the anxiety presents") : text.index("Suggested integration")]
    assert "%" in section
    assert "No profile yet" not in section
