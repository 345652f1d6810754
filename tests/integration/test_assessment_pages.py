"""Entering a questionnaire, acting on an alert and reading the dashboard, as staff do."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, CheckIn, RiskAlert
from kapstone.assessments.views.dashboard import build

GAD7_POST = {"q1": "3", "q2": "3", "q3": "2", "q4": "2", "q5": "2", "q6": "2", "q7": "2"}
NOW_FIELD = {"answered_at": "2026-11-20T09:30", "timepoint": "baseline"}


def _errors(html: str) -> dict[str, str]:
    return {
        name: unescape(message)
        for name, message in re.findall(
            r'<div id="id_(\w+)_error"><p class="error"[^>]*>([^<]*)</p>', html
        )
    }


def test_entry_form_shows_wording_that_may_ship(patient, client_for):
    # Arrange
    client = client_for(Role.NURSE)

    # Act
    gad7 = client.get(reverse("assessment_new", args=[patient.pk, "gad7"])).content.decode()
    lsas = client.get(reverse("assessment_new", args=[patient.pk, "lsas"])).content.decode()

    # Assert
    assert "Feeling nervous, anxious, or on edge" in gad7
    assert "Not at all" in gad7
    assert "Item 1" in lsas
    assert "use your licensed form" in lsas or "licensed form" in lsas


def test_entry_saves_scores_and_says_so(patient, client_for):
    # Arrange
    client = client_for(Role.THERAPIST)

    # Act
    response = client.post(
        reverse("assessment_new", args=[patient.pk, "gad7"]), {**GAD7_POST, **NOW_FIELD}
    )

    # Assert
    assert response.status_code == 302
    assert resolve(response["Location"]).url_name == "patient_chart"
    assessment = Assessment.objects.get(patient=patient)
    assert (assessment.total, assessment.band_code, assessment.timepoint) == (
        16,
        "severe",
        "baseline",
    )
    page = client.get(response["Location"]).content.decode()
    assert "GAD-7 saved: 16 (Severe" in page


def test_entry_with_an_answer_out_of_range_names_the_item(patient, client_for):
    # Arrange
    client = client_for(Role.NURSE)

    # Act
    response = client.post(
        reverse("assessment_new", args=[patient.pk, "gad7"]),
        {**GAD7_POST, "q3": "7", **NOW_FIELD},
    )

    # Assert
    assert response.status_code == 422
    errors = _errors(response.content.decode())
    assert list(errors) == ["q3"]
    assert "Nothing was saved" in response.content.decode()
    assert Assessment.objects.count() == 0


def test_entry_in_the_future_is_refused(patient, client_for):
    # Arrange
    client = client_for(Role.NURSE)
    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    # Act
    response = client.post(
        reverse("assessment_new", args=[patient.pk, "gad7"]),
        {**GAD7_POST, "answered_at": tomorrow, "timepoint": "other"},
    )

    # Assert
    assert response.status_code == 422
    assert "cannot be in the future" in _errors(response.content.decode())["answered_at"]


def test_entering_a_suicide_risk_answer_goes_straight_to_the_alert(patient, client_for):
    # Arrange
    client = client_for(Role.NURSE)
    answers = {f"q{i}": "1" for i in range(1, 10)}

    # Act
    response = client.post(
        reverse("assessment_new", args=[patient.pk, "phq9"]), {**answers, **NOW_FIELD}
    )

    # Assert
    assert response.status_code == 302
    alert = RiskAlert.objects.get(patient=patient)
    assert response["Location"] == reverse("alert_detail", args=[alert.pk])
    page = client.get(response["Location"]).content.decode()
    assert "urgent alert" in page
    assert "Thoughts that you would be better off dead" in page


def test_unknown_instrument_is_not_found(patient, client_for):
    # Act
    response = client_for(Role.NURSE).get(reverse("assessment_new", args=[patient.pk, "madrs"]))

    # Assert
    assert response.status_code == 404


@pytest.fixture
def open_alert(patient, clinician):
    assessment = actions.record_assessment(
        by=clinician, patient=patient, instrument="phq9", answers={f"q{i}": 1 for i in range(1, 10)}
    )
    return assessment.alerts.get()


def test_alert_stays_listed_until_acknowledged(open_alert, patient, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    listed = client.get(reverse("alert_list")).content.decode()

    # Act
    response = client.post(
        reverse("alert_detail", args=[open_alert.pk]),
        {"action": "safety_plan", "action_note": "Reviewed plan by phone"},
    )

    # Assert
    assert response.status_code == 302
    assert reverse("alert_detail", args=[open_alert.pk]) in listed
    after = client.get(reverse("alert_list")).content.decode()
    assert reverse("alert_detail", args=[open_alert.pk]) not in after
    assert "Reviewed or updated the safety plan" in after


def test_acknowledging_other_without_a_note_is_refused(open_alert, client_for):
    # Act
    response = client_for(Role.NURSE).post(
        reverse("alert_detail", args=[open_alert.pk]), {"action": "other", "action_note": ""}
    )

    # Assert
    assert response.status_code == 422
    assert "must describe the action" in _errors(response.content.decode())["action_note"]
    open_alert.refresh_from_db()
    assert open_alert.status == "open"


def test_dashboard_sorts_patients_into_their_standing(make_patient, clinician, client_for):
    # Arrange
    now = timezone.now()
    responder = make_patient(last_name="Responder")
    remitter = make_patient(last_name="Remitter")
    waiting = make_patient(last_name="Waiting")
    late = make_patient(last_name="Late")
    for person, totals in ((responder, (16, 7)), (remitter, (16, 3))):
        for days_ago, total in ((21, totals[0]), (2, totals[1])):
            answers = {f"q{i}": 0 for i in range(1, 8)}
            for i in range(total):
                answers[f"q{i % 7 + 1}"] += 1
            actions.record_assessment(
                by=clinician,
                patient=person,
                instrument="gad7",
                answers=answers,
                answered_at=now - timedelta(days=days_ago),
            )
    for person, hours in ((waiting, 2), (late, 30)):
        checkin, _ = actions.send_checkin(
            by=clinician, patient=person, instruments=["gad7"], email=False
        )
        CheckIn.objects.filter(pk=checkin.pk).update(
            due_at=now - timedelta(hours=hours), expires_at=now + timedelta(hours=40)
        )

    # Act
    board = build(now)
    page = client_for(Role.NURSE).get(reverse("dashboard")).content.decode()

    # Assert
    assert [s.patient for s in board.responding] == [responder]
    assert [s.patient for s in board.remission] == [remitter]
    assert [c.patient for c in board.due] == [waiting]
    assert [c.patient for c in board.overdue] == [late]
    for person in (responder, remitter, waiting, late):
        assert person.last_name in page
