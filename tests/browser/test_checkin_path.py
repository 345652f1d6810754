"""A patient answers a questionnaire link on a phone; the clinician sees the score, the trend
and the urgent alert, and acknowledges it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapstone.access.roles import Role
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, RiskAlert

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _answer(page, question: str, answer: str) -> None:
    page.get_by_role("group", name=re.compile(re.escape(question))).get_by_text(
        answer, exact=True
    ).click()


def test_patient_answers_by_link_and_clinician_acts_on_the_alert(
    browser, live_server, make_patient, make_user, sign_in, clinician
):
    # Arrange: a baseline a month ago, then a link for today's check-in.
    patient = make_patient(first_name="Marisol", last_name="Okonkwo")
    baseline = {f"q{i}": 2 for i in range(1, 8)}
    actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="gad7",
        answers=baseline,
        answered_at=timezone.now() - timedelta(days=28),
        timepoint="baseline",
    )
    _, token = actions.send_checkin(
        by=clinician, patient=patient, instruments=["gad7", "phq9"], email=False
    )
    nurse = make_user(Role.NURSE)

    # Act 1: the patient, on a phone, signed in to nothing.
    phone = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True)
    mobile = phone.new_page()
    mobile.goto(f"/c/{token}/")
    expect(mobile.get_by_role("heading", name="Your questionnaire")).to_be_visible()
    expect(mobile.get_by_text("Okonkwo")).to_have_count(0)
    gad7 = mobile.locator("section.questionnaire").nth(0)
    for fieldset in gad7.get_by_role("group").all():
        fieldset.get_by_text("Several days", exact=True).click()
    phq9 = mobile.locator("section.questionnaire").nth(1)
    for fieldset in phq9.get_by_role("group").all():
        fieldset.get_by_text("Not at all", exact=True).click()
    _answer(mobile, "better off dead", "Several days")
    mobile.get_by_role("button", name="Send my answers").click()

    # Assert 1: thanks, and crisis lines at once.
    expect(mobile.get_by_role("heading", name="Please reach out for support now")).to_be_visible()
    expect(mobile.get_by_text("988").first).to_be_visible()
    phone.close()
    assert sorted(Assessment.objects.filter(patient=patient).values_list("total", flat=True)) == [
        1,
        7,
        14,
    ]

    # Act 2: the nurse signs in and finds the alert on the dashboard.
    desk = browser.new_context(base_url=live_server.url)
    page = desk.new_page()
    sign_in(page, nurse)
    page.get_by_role("link", name="Dashboard").first.click()
    alerting = page.get_by_role("region", name=re.compile("Alerting"))
    expect(alerting.get_by_role("link", name="Marisol Okonkwo")).to_be_visible()

    # Assert 2: the chart's scores and the trend picture.
    page.goto(f"/patients/{patient.pk}/scores/")
    gad7_section = page.locator("#scores-gad7")
    expect(gad7_section.locator("svg").first).to_be_visible()
    expect(gad7_section.locator("figcaption")).to_contain_text("latest 7")

    # Act 3: acknowledge with the action taken.
    page.goto("/dashboard/")
    page.get_by_role("region", name=re.compile("Alerting")).get_by_role(
        "link", name="Marisol Okonkwo"
    ).click()
    expect(page.get_by_role("heading", name="Urgent alert: PHQ-9")).to_be_visible()
    page.get_by_label("What was done").select_option("contacted")
    page.get_by_role("button", name="Acknowledge").click()

    # Assert 3: gone from the open list, kept on the record.
    expect(page.get_by_text("Alert acknowledged")).to_be_visible()
    alert = RiskAlert.objects.get(patient=patient)
    assert (alert.status, alert.action, alert.acknowledged_by_id) == (
        "acknowledged",
        "contacted",
        nurse.pk,
    )
    desk.close()
