"""The path a clinic walks every day, in a real browser: sign in, register, find, open."""

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import Locator, Page, expect

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.patients.models import BodyMeasurement, Patient

pytestmark = pytest.mark.browser

WEIGHT_RULE = "Weight must be between 25 and 350 kg"
SEARCH_LABEL = "Search by name, date of birth or record number"


def _field(page: Page, label: str) -> Locator:
    """The form control labelled exactly so (Django adds a colon to its labels)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))


def _fill_registration(page: Page, *, weight: str, unit: str) -> None:
    _field(page, "First name").fill("Delphine")
    _field(page, "Last name").fill("Haverford")
    _field(page, "Date of birth").fill("1979-03-08")
    _field(page, "Sex at birth").select_option("female")
    _field(page, "Home site").select_option(label="Main clinic")
    _field(page, "Weight").fill(weight)
    _field(page, "Weight unit").select_option(unit)
    _field(page, "Height").fill("165")
    _field(page, "Height unit").select_option("cm")


def _search(page: Page, text: str) -> None:
    """Type as a person would, so the box's live search fires as it does for them."""
    box = page.get_by_label(SEARCH_LABEL)
    box.clear()
    box.press_sequentially(text, delay=20)


def _refused_weight(page: Page, weight_typed: str, unit: str) -> None:
    _fill_registration(page, weight=weight_typed, unit=unit)
    # The refusal re-renders the same address with the same banner, so wait for the new
    # document itself rather than for text the previous refusal already shows.
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save").click()
    assert navigation.value.status == 422
    # Two alerts: the banner, and the one error beside the weight, naming field and rule.
    alerts = page.get_by_role("alert")
    expect(alerts).to_have_count(2)
    expect(alerts.first).to_have_text("Nothing was saved. Please correct the fields marked below.")
    weight = _field(page, "Weight")
    expect(page.locator(".field", has=weight).get_by_role("alert")).to_contain_text(WEIGHT_RULE)
    expect(weight).to_have_attribute("aria-invalid", "true")
    # The form keeps what was typed, so only the weight needs retyping.
    expect(_field(page, "Last name")).to_have_value("Haverford")
    expect(weight).to_have_value(weight_typed)
    assert not Patient.objects.filter(last_name="Haverford").exists()


def test_nurse_registers_finds_and_opens_a_patient(
    page, sign_in, make_user, make_patient, tmp_path
):
    nurse = make_user(Role.NURSE)
    # One shares the start of her surname, one her date of birth: each search must tell
    # them apart from her.
    make_patient(first_name="Delia", last_name="Havers", date_of_birth=date(1990, 1, 1))
    make_patient(first_name="Tomas", last_name="Brandt", date_of_birth=date(1979, 3, 8))

    sign_in(page, nurse)
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()

    _refused_weight(page, "700", "kg")
    # Kept in pytest's temporary directory (the last runs are kept) for a person to look at.
    page.screenshot(path=tmp_path / "register-weight-error.png", full_page=True)
    _refused_weight(page, "0", "lb")

    _fill_registration(page, weight="154", unit="lb")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("patient-name")).to_have_text("Delphine Haverford")
    expect(page.get_by_role("status")).to_contain_text("Registered Delphine Haverford as")
    expect(page.get_by_test_id("weight")).to_contain_text("69.85 kg (154.0 lb)")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()
    results = page.locator("#results")
    expect(results).to_contain_text("3 patients")

    _search(page, "Haverford")
    expect(results).to_contain_text("1 patient matches")
    expect(results.get_by_role("link")).to_have_text(["Haverford, Delphine"])
    # The search lands in the address bar, so back and reload keep it.
    expect(page).to_have_url(re.compile(r"/patients/\?q=Haverford$"))

    _search(page, "1979-03-08")
    expect(results).to_contain_text("2 patients match")
    expect(results.get_by_role("link")).to_have_text(["Brandt, Tomas", "Haverford, Delphine"])
    results.get_by_role("link", name="Haverford, Delphine").click()

    expect(page.get_by_test_id("patient-name")).to_have_text("Delphine Haverford")
    expect(page.get_by_role("heading", name="Weight and height")).to_be_visible()
    expect(page.get_by_test_id("weight")).to_contain_text("69.85 kg (154.0 lb)")
    page.screenshot(path=tmp_path / "chart.png", full_page=True)

    patient = Patient.objects.get(last_name="Haverford")
    assert patient.date_of_birth == date(1979, 3, 8)
    assert patient.home_site.name == "Main clinic"
    measurement = BodyMeasurement.objects.get(patient=patient)
    assert measurement.weight_kg == Decimal("69.85")
    assert measurement.weight_unit_entered == "lb"

    by_nurse = AuditEvent.objects.filter(actor_id=nurse.pk, patient_id=patient.pk)
    assert by_nurse.filter(action="patient.create").count() == 1
    # Once on the redirect after saving, once from the search result.
    assert by_nurse.filter(action="patient.view").count() == 2
    # The search page that showed her (with another patient) names her among those shown.
    shown_to_nurse = AuditEvent.objects.naming_patient(patient.pk).filter(actor_id=nurse.pk)
    assert shown_to_nurse.filter(action="patient.list").exists()
    # The refused attempts created nothing, so they left no creation in the trail either.
    assert not AuditEvent.objects.filter(actor_id=nurse.pk, action="patient.create").exclude(
        patient_id=patient.pk
    )


def test_front_desk_sees_the_chart_without_clinical_sections(
    page, sign_in, make_user, make_patient
):
    patient = make_patient(first_name="Ines", last_name="Okafor")
    make_patient(first_name="Ines", last_name="Varga")
    desk = make_user(Role.FRONT_DESK)

    # Front desk does not reach clinical records: the password alone reaches the home page.
    assert not desk.needs_two_factor
    sign_in(page, desk)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    _search(page, "Okafor")
    expect(page.locator("#results")).to_contain_text("1 patient matches")
    page.locator("#results").get_by_role("link", name="Okafor, Ines").click()

    expect(page.get_by_test_id("patient-name")).to_have_text("Ines Okafor")
    expect(page.get_by_role("heading", name="Contact", exact=True)).to_be_visible()
    for heading in ("Weight and height", "Allergies", "Current medications", "Diagnoses"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_have_count(0)
    expect(page.get_by_test_id("weight")).to_have_count(0)

    view = AuditEvent.objects.get(actor_id=desk.pk, action="patient.view")
    assert view.patient_id == patient.pk
    assert view.detail == {"sections": ["demographics"]}


def test_researcher_is_refused_the_patient_list(page, sign_in, make_user, make_patient):
    make_patient()
    researcher = make_user(Role.RESEARCHER)

    sign_in(page, researcher)
    expect(page.get_by_text("Your role gives you no access to patient records")).to_be_visible()
    expect(page.get_by_role("link", name="Patients")).to_have_count(0)

    response = page.goto("/patients/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Testpatient")

    denied = AuditEvent.objects.get(actor_id=researcher.pk, action="access.denied")
    assert denied.detail["view"] == "patient_list"


def test_stopping_a_medication_asks_first(page, sign_in, make_user, make_patient, clinician):
    from kapstone.patients import actions
    from kapstone.patients.models import MedicationStatement

    patient = make_patient(first_name="Noor", last_name="Haddad")
    medication = actions.add_medication(
        by=clinician, patient=patient, name="Lorazepam", drug_class="benzodiazepine"
    )
    nurse = make_user(Role.NURSE)
    sign_in(page, nurse)
    page.goto(f"/patients/{patient.pk}/")
    button = page.get_by_role("button", name="Mark stopped today")

    # Dismissing the question changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    button.click()
    medication.refresh_from_db()
    assert medication.stopped_on is None

    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect(page.get_by_role("button", name="Mark stopped today")).to_have_count(0)
    assert MedicationStatement.objects.get(pk=medication.pk).stopped_on is not None
    assert AuditEvent.objects.filter(actor_id=nurse.pk, action="medication.stop").count() == 1
