"""A nurse screens a patient, records consent and drafts a plan; a prescriber signs it."""

import pytest
from playwright.sync_api import expect

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.patients import actions as patient_actions
from kapstone.treatment.models import TreatmentPlan

pytestmark = pytest.mark.browser


def test_screening_to_a_signed_plan(
    browser, live_server, page, make_patient, make_user, sign_in, clinician
):
    # Arrange: a record that answers what screening reads from it.
    patient = make_patient(first_name="Marisol", last_name="Okonkwo")
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)
    patient_actions.add_contact(
        by=clinician, patient=patient, name="Sam", relationship="partner", phone="1", is_escort=True
    )
    assessment_actions.record_assessment(
        by=clinician, patient=patient, instrument="auditc", answers={"q1": 0, "q2": 0, "q3": 0}
    )
    assessment_actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="dast10",
        answers={f"q{i}": False for i in range(1, 11)},
    )
    nurse = make_user(Role.NURSE)
    prescriber = make_user(Role.PRESCRIBER)

    # Act 1: the nurse screens.
    sign_in(page, nurse)
    page.goto(f"/patients/{patient.pk}/treatment/")
    page.get_by_role("link", name="Screen for eligibility").click()
    for select in page.locator("select").all():
        select.select_option("no")
    page.get_by_label("Blood pressure: systolic (mmHg)").fill("118")
    page.get_by_label("Blood pressure: diastolic (mmHg)").fill("76")
    page.get_by_role("button", name="Screen").click()

    # Assert 1
    expect(page.get_by_role("heading", name="Eligibility: Eligible")).to_be_visible()

    # Act 2: consent, then a draft at the starting dose.
    page.get_by_role("link", name="Eligibility and plan").click()
    page.get_by_role("button", name="Record consent to form version 1").click()
    expect(page.get_by_text("Consent recorded.")).to_be_visible()
    page.get_by_role("link", name="Draft a treatment plan").click()
    expect(page.get_by_role("cell", name="35 mg", exact=True).first).to_be_visible()
    page.get_by_label("Program").select_option("standard")
    page.get_by_label("Route").select_option("iv")
    page.get_by_label("Dosing sessions a week").fill("1")
    page.get_by_label("Planned dosing sessions").fill("6")
    page.get_by_label("Stock concentration (mg/mL)").fill("10")
    page.get_by_label("Acceptance and commitment therapy").check()
    page.get_by_label("Goals").fill("Fewer panic attacks")
    page.get_by_role("button", name="Save draft").click()

    # Assert 2: a draft the nurse cannot sign.
    expect(page.get_by_role("heading", name="Treatment plan, version 1: Draft")).to_be_visible()
    expect(page.get_by_text("3.50 mL at 10 mg/mL")).to_be_visible()
    expect(page.get_by_role("button", name="Sign plan")).to_have_count(0)
    plan = TreatmentPlan.objects.get(patient=patient)

    # Act 3: the prescriber signs.
    context = browser.new_context(base_url=live_server.url)
    signer = context.new_page()
    sign_in(signer, prescriber)
    signer.goto(f"/patients/{patient.pk}/plans/{plan.pk}/")
    expect(signer.get_by_text("estimate").first).to_be_visible()
    signer.get_by_role("button", name="Sign plan").click()

    # Assert 3
    expect(signer.get_by_role("heading", name="Treatment plan, version 1: Signed")).to_be_visible()
    expect(signer.get_by_role("button", name="Revise (new draft version)")).to_be_visible()
    context.close()
    plan.refresh_from_db()
    assert (plan.status, plan.signed_by_id) == ("signed", prescriber.pk)
