"""A dosing session on the session screen, from check-in to discharge: the pre-dose check
clears, the dose is recorded, vitals go in, an early discharge is refused with its reasons,
and once the protocol's minimum has passed the patient is discharged."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapstone.access.roles import Role
from kapstone.dosing import actions
from kapstone.dosing.models import DosingSession
from tests.integration.dosing_world import ready_patient

pytestmark = pytest.mark.browser


def _section(page, heading: str):
    return page.locator("section", has=page.get_by_role("heading", name=heading))


def test_a_whole_session_with_an_early_discharge_refused(
    page, clinic, make_patient, make_user, sign_in, clinician
):
    # Arrange: a patient with consent and a signed IV plan, scheduled for now.
    prescriber = make_user(Role.PRESCRIBER)
    nurse = make_user(Role.NURSE)
    witness = make_user(Role.NURSE)
    patient, plan = ready_patient(make_patient, clinician, prescriber)
    session = actions.schedule_session(
        by=clinician,
        patient=patient,
        site=clinic[1],
        scheduled_start=timezone.now(),
        prescriber=prescriber,
    )
    sign_in(page, nurse)

    # Act 1: check in and the pre-dose check.
    page.goto(f"/dosing/sessions/{session.pk}/")
    page.get_by_role("button", name="Check the patient in").click()
    expect(page.get_by_test_id("status")).to_have_text("Checked in")
    check = _section(page, "Pre-dose check")
    check.get_by_label("Escort confirmed").check()
    check.get_by_label("Weight today (kg)").fill(f"{plan.weight_kg}")
    check.get_by_label("GAD-7 total").fill("9")
    check.get_by_label("PHQ-9 item 9 (0-3)").fill("0")
    check.get_by_label("Systolic blood pressure (mm[Hg])").fill("128")
    check.get_by_label("Diastolic blood pressure (mm[Hg])").fill("82")
    check.get_by_label("Heart rate (/min)").fill("74")
    check.get_by_label("Oxygen saturation (pulse oximetry) (%)").fill("98")
    check.get_by_role("button", name="Record the pre-dose check").click()
    expect(page.get_by_test_id("check-outcome")).to_contain_text("Latest check: Clear")
    page.get_by_role("button", name="Clear for dosing").click()
    expect(page.get_by_test_id("status")).to_have_text("Cleared for dosing")

    # Act 2: the dose.
    dose = _section(page, "Administration")
    dose.get_by_label("Drug").fill("Ketamine HCl")
    dose.get_by_label("Concentration (mg/mL)").fill(f"{plan.concentration_mg_per_ml}")
    dose.get_by_label("Lot").fill("LOT-42")
    dose.get_by_label("Expires on").fill((timezone.localdate() + timedelta(days=60)).isoformat())
    dose.get_by_label("Dose (mg)").fill(f"{plan.dose_mg}")
    dose.get_by_label("Volume (mL)").fill(f"{plan.volume_ml}")
    dose.get_by_label("Rate (mL/h, IV)").fill("6")
    dose.get_by_label("Witness").select_option(value=str(witness.pk))
    dose.get_by_role("button", name="Record the dose").click()
    expect(page.get_by_test_id("status")).to_have_text("Monitoring")

    # Act 3: vitals, then an early discharge.
    vitals = _section(page, "Vitals")
    vitals.get_by_label("Systolic blood pressure (mm[Hg])").fill("132")
    vitals.get_by_label("Diastolic blood pressure (mm[Hg])").fill("84")
    vitals.get_by_label("Heart rate (/min)").fill("78")
    vitals.get_by_label("Oxygen saturation (pulse oximetry) (%)").fill("97")
    vitals.get_by_role("button", name="Record vitals").click()
    expect(page.get_by_test_id("latest")).to_contain_text("BP 132/84")

    def discharge():
        form = _section(page, "Discharge")
        for item in ("activity", "respiration", "circulation", "consciousness", "oxygenation"):
            form.get_by_label(f"Aldrete: {item}").select_option(value="2")
        form.get_by_label("Escort present").check()
        form.get_by_label("Discharge instructions acknowledged by the patient").check()
        form.get_by_role("button", name="Discharge").click()

    discharge()

    # Assert 1: refused, with the protocol's minimum named; still monitoring.
    expect(page.get_by_text("Nothing was saved. Discharge was refused")).to_be_visible()
    expect(page.get_by_text("minimum of 120 minutes")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Monitoring")

    # Act 4: two hours pass (the dose's start moves back), then discharge.
    DosingSession.objects.filter(pk=session.pk).update(
        dose_started_at=timezone.now() - timedelta(minutes=125)
    )
    page.goto(f"/dosing/sessions/{session.pk}/")
    discharge()

    # Assert 2: discharged, and the note has the whole timeline.
    expect(page.get_by_test_id("status")).to_have_text("Discharged")
    page.get_by_role("link", name="Session note").click()
    expect(page.get_by_role("heading", name="Dosing session note")).to_be_visible()
    for step in ("Checked in", "Pre-dose check: Clear", "Dose given", "Discharged"):
        expect(page.get_by_text(step).first).to_be_visible()
