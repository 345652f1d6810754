"""Storing questionnaire scores and acting on suicide-risk alerts, through the actions."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, CheckIn, RiskAlert
from kapstone.audit.models import AuditEvent
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs

GAD7_12 = {"q1": 2, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 1, "q7": 1}
PHQ9_ITEM9 = {f"q{i}": 1 for i in range(1, 10)}
PHQ9_NO_ITEM9 = {**PHQ9_ITEM9, "q9": 0}


def _phq9_with(item9: int) -> dict:
    return {**PHQ9_NO_ITEM9, "q9": item9}


def test_record_stores_the_recomputed_score(patient, clinician):
    # Act
    assessment = actions.record_assessment(
        by=clinician, patient=patient, instrument="gad7", answers=GAD7_12, timepoint="baseline"
    )

    # Assert
    assessment.refresh_from_db()
    assert (assessment.total, assessment.band_code, assessment.complete) == (12, "moderate", True)
    assert assessment.max_total == 21
    assert assessment.definition_version
    assert assessment.source == "clinician"
    assert assessment.entered_by == clinician
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.patient_id) == ("assessment.create", patient.pk)
    assert event.detail == {"instrument": "gad7", "source": "clinician", "alerts": []}


def test_missing_item_stores_no_total(patient, clinician):
    # Arrange
    answers = {key: value for key, value in GAD7_12.items() if key != "q7"}

    # Act
    assessment = actions.record_assessment(
        by=clinician, patient=patient, instrument="gad7", answers=answers
    )

    # Assert
    assert (assessment.total, assessment.complete, assessment.band_code) == (None, False, "")


@pytest.mark.parametrize(
    ("answers", "fields"),
    [
        ({**GAD7_12, "q1": 4}, ["q1"]),
        ({**GAD7_12, "q1": -1, "q2": 9}, ["q1", "q2"]),
        ({**GAD7_12, "q8": 1}, ["q8"]),
        ({**GAD7_12, "q3": "often"}, ["q3"]),
    ],
    ids=["above-range", "two-wrong", "unknown-item", "not-a-number"],
)
def test_bad_answers_are_all_named_and_nothing_is_stored(answers, fields, patient, clinician):
    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.record_assessment(by=clinician, patient=patient, instrument="gad7", answers=answers)

    # Assert
    assert [error.field for error in raised.value.errors] == fields
    assert Assessment.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"instrument": "madrs"}, "instrument"),
        ({"timepoint": "whenever"}, "timepoint"),
        ({"answered_at": timezone.now() + timedelta(hours=1)}, "answered_at"),
    ],
    ids=["unknown-instrument", "unknown-timepoint", "future"],
)
def test_bad_details_are_refused(kwargs, field, patient, clinician):
    # Arrange
    arguments = {"instrument": "gad7", "answers": GAD7_12, **kwargs}

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.record_assessment(by=clinician, patient=patient, **arguments)

    # Assert
    assert field in [error.field for error in raised.value.errors]
    assert Assessment.objects.count() == 0


@pytest.mark.parametrize(
    "role", [Role.FRONT_DESK, Role.BILLING, Role.RESEARCHER, Role.CLINIC_ADMIN]
)
def test_roles_without_the_permission_cannot_record(role, patient, make_staff):
    # Arrange
    user = make_staff(role)

    # Act
    with pytest.raises(AccessDenied):
        actions.record_assessment(by=user, patient=patient, instrument="gad7", answers=GAD7_12)

    # Assert
    assert Assessment.objects.count() == 0


@pytest.mark.parametrize(("item9", "alerts"), [(0, 0), (1, 1), (2, 1), (3, 1)])
def test_phq9_item9_above_zero_raises_one_urgent_alert(
    item9, alerts, patient, clinician, django_capture_on_commit_callbacks
):
    # Arrange
    clinician.email = "clinician@clinic.example"
    clinician.save()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        assessment = actions.record_assessment(
            by=clinician, patient=patient, instrument="phq9", answers=_phq9_with(item9)
        )

    # Assert
    assert RiskAlert.objects.filter(assessment=assessment, status="open").count() == alerts
    assert len(mail.outbox) == alerts


def test_alert_email_goes_to_clinicians_and_names_no_patient(
    patient, clinician, make_staff, django_capture_on_commit_callbacks
):
    # Arrange
    nurse = make_staff(Role.NURSE)
    nurse.email = "nurse@clinic.example"
    nurse.save()
    front_desk = make_staff(Role.FRONT_DESK)
    front_desk.email = "desk@clinic.example"
    front_desk.save()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        assessment = actions.record_assessment(
            by=clinician, patient=patient, instrument="phq9", answers=PHQ9_ITEM9
        )

    # Assert
    (message,) = mail.outbox
    assert message.to == ["nurse@clinic.example"]
    body = message.subject + message.body
    for identifying in (patient.first_name, patient.last_name, patient.record_number):
        assert identifying not in body
    alert = assessment.alerts.get()
    assert f"/alerts/{alert.pk}/" in message.body
    assert alert.notified_at is not None


def test_positive_cssrs_screen_raises_an_alert_with_its_level(patient, clinician):
    # Act
    assessment = actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="cssrs_screener",
        answers={"q1": True, "q2": False, "q6": False},
    )

    # Assert
    alert = assessment.alerts.get()
    assert alert.code == "suicide_risk"
    assert alert.level
    assert AuditEvent.objects.order_by("-seq").first().detail["alerts"] == ["suicide_risk"]


def test_negative_cssrs_screen_raises_none(patient, clinician):
    # Act
    assessment = actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="cssrs_screener",
        answers={"q1": False, "q2": False, "q6": False},
    )

    # Assert
    assert not assessment.alerts.exists()


@pytest.fixture
def alert(patient, clinician):
    assessment = actions.record_assessment(
        by=clinician, patient=patient, instrument="phq9", answers=PHQ9_ITEM9
    )
    return assessment.alerts.get()


def test_acknowledging_records_who_when_and_what(alert, make_staff):
    # Arrange
    therapist = make_staff(Role.THERAPIST)

    # Act
    actions.acknowledge_alert(by=therapist, alert=alert, action="contacted", note="Safe; plan")

    # Assert
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    assert (alert.acknowledged_by, alert.action) == (therapist, "contacted")
    assert alert.acknowledged_at is not None
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.patient_id) == ("alert.acknowledge", alert.patient_id)
    assert "Safe" not in str(event.detail)


@pytest.mark.parametrize(
    ("action", "note", "field"),
    [("", "", "action"), ("shrugged", "", "action"), ("other", "  ", "action_note")],
    ids=["no-action", "unknown-action", "other-without-note"],
)
def test_acknowledging_needs_a_real_action(action, note, field, alert, clinician):
    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.acknowledge_alert(by=clinician, alert=alert, action=action, note=note)

    # Assert
    assert [error.field for error in raised.value.errors] == [field]
    alert.refresh_from_db()
    assert alert.status == "open"


def test_an_alert_is_acknowledged_once(alert, clinician):
    # Arrange
    actions.acknowledge_alert(by=clinician, alert=alert, action="contacted")

    # Act
    with pytest.raises(InvalidInput) as raised:
        actions.acknowledge_alert(by=clinician, alert=alert, action="safety_plan")

    # Assert
    assert raised.value.field == "alert"


def test_front_desk_cannot_acknowledge(alert, make_staff):
    # Act
    with pytest.raises(AccessDenied):
        actions.acknowledge_alert(by=make_staff(Role.FRONT_DESK), alert=alert, action="contacted")

    # Assert
    alert.refresh_from_db()
    assert alert.status == "open"


def test_database_refuses_an_acknowledgement_without_an_action(alert, clinician):
    # Act / Assert
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskAlert.objects.filter(pk=alert.pk).update(
            status="acknowledged", acknowledged_by=clinician, acknowledged_at=timezone.now()
        )


def test_database_refuses_a_total_without_a_complete_form(patient, clinician):
    # Arrange
    assessment = actions.record_assessment(
        by=clinician, patient=patient, instrument="gad7", answers=GAD7_12
    )

    # Act / Assert
    with pytest.raises(IntegrityError), transaction.atomic():
        Assessment.objects.filter(pk=assessment.pk).update(complete=False)


# Check-in links


def test_checkin_link_is_single_use(patient, clinician):
    # Arrange
    patient.email = "robin@example.com"
    patient.save()
    checkin, token = actions.send_checkin(by=clinician, patient=patient, instruments=["gad7"])

    # Act
    _, stored, alerts = actions.submit_checkin(token=token, answers={"gad7": GAD7_12})

    # Assert
    assert [a.total for a in stored] == [12]
    assert alerts == []
    checkin.refresh_from_db()
    assert checkin.status == "completed"
    with pytest.raises(actions.CheckInUnavailable):
        actions.submit_checkin(token=token, answers={"gad7": GAD7_12})
    assert Assessment.objects.count() == 1


def test_checkin_token_is_not_stored_and_derives_again(patient, clinician):
    # Act
    checkin, token = actions.send_checkin(
        by=clinician, patient=patient, instruments=["gad7"], email=False
    )

    # Assert
    stored = CheckIn.objects.filter(pk=checkin.pk).values().get()
    assert token not in str(stored)
    assert actions.link_token(checkin) == token
    assert token not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_expired_and_unknown_links_look_the_same(patient, clinician):
    # Arrange
    checkin, token = actions.send_checkin(
        by=clinician, patient=patient, instruments=["gad7"], email=False
    )
    later = checkin.expires_at + timedelta(seconds=1)

    # Act
    with pytest.raises(actions.CheckInUnavailable) as expired:
        actions.open_checkin(token, now=later)
    with pytest.raises(actions.CheckInUnavailable) as unknown:
        actions.open_checkin("not-a-real-token")

    # Assert
    assert str(expired.value) == str(unknown.value)


def test_checkin_with_a_bad_answer_stores_nothing_and_stays_open(patient, clinician):
    # Arrange
    _, token = actions.send_checkin(
        by=clinician, patient=patient, instruments=["gad7", "phq9"], email=False
    )

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.submit_checkin(
            token=token, answers={"gad7": GAD7_12, "phq9": {**PHQ9_ITEM9, "q2": 7}}
        )

    # Assert
    assert [error.field for error in raised.value.errors] == ["phq9.q2"]
    assert Assessment.objects.count() == 0
    assert RiskAlert.objects.count() == 0
    assert actions.open_checkin(token).status == "pending"


@pytest.mark.parametrize(
    ("instruments", "email", "field"),
    [
        ([], False, "instruments"),
        (["hama"], False, "instruments"),
        (["lsas"], False, "instruments"),
        (["gad7"], True, "email"),
    ],
    ids=["none", "clinician-rated", "licensed-wording", "no-email-on-file"],
)
def test_send_checkin_refuses(instruments, email, field, patient, clinician):
    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.send_checkin(by=clinician, patient=patient, instruments=instruments, email=email)

    # Assert
    assert field in [error.field for error in raised.value.errors]
    assert CheckIn.objects.count() == 0


def test_checkin_email_carries_the_link_and_no_name(
    patient, clinician, django_capture_on_commit_callbacks
):
    # Arrange
    patient.email = "robin@example.com"
    patient.save()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        checkin, token = actions.send_checkin(by=clinician, patient=patient, instruments=["gad7"])

    # Assert
    (message,) = mail.outbox
    assert message.to == ["robin@example.com"]
    assert f"/c/{token}/" in message.body
    assert patient.last_name not in message.subject + message.body
    assert "988" in message.body
    checkin.refresh_from_db()
    assert checkin.emailed_at is not None
