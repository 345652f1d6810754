"""Home practice: assigning from the library, the patient's practice link, logging from the
phone, adherence on the staff page and the chart's partial, and what the link never shows."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.core.logging import ScrubFilter
from kapstone.core.models import Organization
from kapstone.errors import AccessDenied, InvalidInputs
from kapstone.integration import actions, queries
from kapstone.integration.models import PracticeAssignment, PracticeLink, PracticeLog
from tests.conftest import signed_in_client


@pytest.fixture
def therapist(make_staff):
    return make_staff(Role.THERAPIST)


@pytest.fixture
def emailed_patient(make_patient):
    return make_patient(first_name="Avery", last_name="Quinlan", email="avery@example.org")


def today():
    return timezone.localdate()


def assign(by, patient, practice="breathing", **kwargs):
    return actions.assign_practice(by=by, patient=patient, practice=practice, **kwargs)


def page(token):
    return reverse("practice_page", args=[token])


def text(response) -> str:
    return response.content.decode()


# Assigning


def test_assigning_takes_the_library_default_and_audits_without_the_note(therapist, patient):
    # Act
    assignment = assign(therapist, patient, "exercise", note="Walk to the park and back.")

    # Assert
    assert assignment.frequency == "3_a_week" and assignment.active
    assert assignment.starts_on == today()
    (event,) = AuditEvent.objects.filter(action="practice.assign")
    assert event.patient_id == patient.pk and event.actor_id == therapist.pk
    assert event.detail == {"practice": "exercise", "frequency": "3_a_week", "fields": ["note"]}
    assert "park" not in str(event.detail)


def test_bad_assignment_names_every_field_and_saves_nothing(therapist, patient):
    # Act
    with pytest.raises(InvalidInputs) as raised:
        assign(
            therapist,
            patient,
            "juggling",
            frequency="hourly",
            starts_on=today(),
            ends_on=today() - timedelta(days=1),
        )

    # Assert
    assert sorted(e.field for e in raised.value.errors) == ["ends_on", "frequency", "practice"]
    assert not PracticeAssignment.objects.exists()


def test_a_practice_is_assigned_once_while_active(therapist, patient):
    # Arrange
    first = assign(therapist, patient)

    # Act
    with pytest.raises(InvalidInputs) as raised:
        assign(therapist, patient)
    actions.end_practice(by=therapist, assignment=first)
    again = assign(therapist, patient)

    # Assert
    assert [e.field for e in raised.value.errors] == ["practice"]
    first.refresh_from_db()
    assert not first.active and first.ends_on == today()
    assert again.active


def test_only_those_who_record_integration_assign(make_staff, patient):
    with pytest.raises(AccessDenied):
        assign(make_staff(Role.FRONT_DESK), patient)


def test_assign_page_with_bad_input_is_422_and_names_the_field(therapist, patient):
    # Arrange
    client = signed_in_client(therapist)

    # Act
    response = client.post(
        reverse("practice_assign", args=[patient.pk]),
        {"practice": "breathing", "starts_on": "2026-11-10", "ends_on": "2026-11-01"},
    )

    # Assert
    assert response.status_code == 422
    html = text(response)
    assert "Nothing was saved" in html
    assert "Until cannot be before the start" in html
    assert not PracticeAssignment.objects.exists()


# The link


def test_issuing_a_link_e_mails_it_with_no_name_and_closes_the_old_one(
    therapist, emailed_patient, django_capture_on_commit_callbacks
):
    # Arrange
    old, old_token = actions.issue_practice_link(by=therapist, patient=emailed_patient)
    mail.outbox.clear()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        link, token = actions.issue_practice_link(by=therapist, patient=emailed_patient, email=True)

    # Assert
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert link.expires_at - link.created_at == timedelta(days=30)
    assert token not in (link.nonce, link.token_hash)
    (message,) = mail.outbox
    assert message.to == ["avery@example.org"]
    assert page(token) in message.body
    p = emailed_patient
    for word in (p.first_name, p.last_name, p.record_number, "breathing", "ketamine"):
        assert word not in message.body and word not in message.subject
    assert Client().get(page(old_token)).status_code == 410
    event = AuditEvent.objects.filter(action="practice_link.issue").order_by("-seq").first()
    assert event.detail == {"days": 30, "email": True, "replaced": 1}


def clinic_link_days(value):
    org = Organization.current()
    org.settings_overrides = {"home_practice": {"link_days": value}}
    org.save(update_fields=["settings_overrides"])


@pytest.mark.parametrize("days", [1, 14, 90])
def test_link_lifetime_follows_the_clinic_setting(therapist, patient, days):
    # Arrange
    clinic_link_days(days)

    # Act
    link, _token = actions.issue_practice_link(by=therapist, patient=patient)

    # Assert
    assert link.expires_at - link.created_at == timedelta(days=days)
    assert actions.practice_link_days() == days


def test_link_lifetime_is_the_shipped_30_days_when_the_clinic_sets_none(therapist, patient):
    link, _token = actions.issue_practice_link(by=therapist, patient=patient)

    assert link.expires_at - link.created_at == timedelta(days=30)


@pytest.mark.parametrize("days", [0, 91, -3, 14.5, "14", True])
def test_a_bad_clinic_link_lifetime_is_refused_naming_the_setting(therapist, patient, days):
    # Arrange
    clinic_link_days(days)

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.issue_practice_link(by=therapist, patient=patient)

    # Assert
    assert [e.field for e in raised.value.errors] == ["home_practice.link_days"]
    assert raised.value.errors[0].message == "must be a whole number of days from 1 to 90"
    assert not PracticeLink.objects.exists()


def test_the_page_says_which_setting_to_fix_and_making_a_link_saves_nothing(therapist, patient):
    # Arrange
    clinic_link_days(0)
    client = signed_in_client(therapist)

    # Act
    shown = client.get(reverse("practice_home", args=[patient.pk]))
    made = client.post(reverse("practice_link_issue", args=[patient.pk]), follow=True)

    # Assert
    assert shown.status_code == 200
    assert "home_practice.link_days" in text(shown)
    assert "home_practice.link_days" in text(made)
    assert not PracticeLink.objects.exists()


def test_e_mailing_needs_an_address(therapist, patient):
    with pytest.raises(InvalidInputs) as raised:
        actions.issue_practice_link(by=therapist, patient=patient, email=True)
    assert [e.field for e in raised.value.errors] == ["email"]
    assert not PracticeLink.objects.exists()


def test_staff_see_a_new_link_once(therapist, patient):
    # Arrange
    client = signed_in_client(therapist)

    # Act
    made = client.post(reverse("practice_link_issue", args=[patient.pk]))
    first = client.get(made["Location"])
    second = client.get(made["Location"])

    # Assert
    link = PracticeLink.objects.get(patient=patient)
    assert page(actions.practice_token(link)) in text(first)
    assert first["Referrer-Policy"] == "no-referrer"
    assert second.status_code == 404
    assert AuditEvent.objects.filter(action="practice_link.show").count() == 1


# The patient's phone page


def test_phone_page_lists_practice_and_logs_today_without_a_name(therapist, patient):
    # Arrange
    breathing = assign(therapist, patient, note="Before bed.")
    assign(therapist, patient, "social_contact")
    _link, token = actions.issue_practice_link(by=therapist, patient=patient)
    client = Client()

    # Act
    shown = client.get(page(token))
    done = client.post(page(token), {"assignment": breathing.pk, "minutes": "8", "rating": "6"})
    after = client.get(done["Location"])

    # Assert
    html = text(shown)
    assert shown.status_code == 200
    assert "Slow breathing" in html and "Social contact" in html and "Before bed." in html
    assert "I did it today" in html
    for word in (patient.first_name, patient.last_name, patient.record_number):
        assert word not in html
    assert shown["Referrer-Policy"] == "no-referrer"
    assert "noindex" in shown["X-Robots-Tag"]
    assert "no-cache" in shown["Cache-Control"] or "max-age=0" in shown["Cache-Control"]
    assert done.status_code == 302
    (log,) = PracticeLog.objects.all()
    assert (log.assignment, log.done_on, log.minutes, log.rating) == (breathing, today(), 8, 6)
    assert log.logged_by is None and log.link is not None
    assert "Done today: 8 min" in text(after)
    (event,) = AuditEvent.objects.filter(action="practice.log")
    assert event.actor_id is None and event.patient_id == patient.pk
    assert event.detail["via"] == "link" and event.detail["fields"] == ["rating"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"minutes": ""}, "minutes", "Minutes must be a whole number from 1 to 240."),
        ({"minutes": "500"}, "minutes", "Minutes must be a whole number from 1 to 240."),
        ({"minutes": "ten"}, "minutes", "Minutes must be a whole number from 1 to 240."),
        ({"minutes": "5", "rating": "11"}, "rating", "How it went must be a whole number"),
    ],
)
def test_phone_page_bad_input_names_the_field_and_saves_nothing(
    therapist, patient, data, field, message
):
    # Arrange
    assignment = assign(therapist, patient)
    _link, token = actions.issue_practice_link(by=therapist, patient=patient)

    # Act
    response = Client().post(page(token), {"assignment": assignment.pk, **data})

    # Assert
    assert response.status_code == 422
    assert "Nothing was saved" in text(response)
    assert message in text(response)
    assert not PracticeLog.objects.exists()


def test_a_link_logs_only_its_own_patients_practice(therapist, patient, make_patient):
    # Arrange
    other = assign(therapist, make_patient())
    _link, token = actions.issue_practice_link(by=therapist, patient=patient)

    # Act
    response = Client().post(page(token), {"assignment": other.pk, "minutes": "5"})

    # Assert
    assert response.status_code == 422
    assert not PracticeLog.objects.exists()


@pytest.mark.parametrize("how", ["unknown", "expired", "replaced"])
def test_closed_links_get_one_neutral_page(therapist, patient, how):
    # Arrange
    assign(therapist, patient)
    link, token = actions.issue_practice_link(by=therapist, patient=patient)
    if how == "unknown":
        token = "A" * 43
    elif how == "expired":
        PracticeLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    else:
        actions.issue_practice_link(by=therapist, patient=patient)

    # Act
    shown = Client().get(page(token))
    posted = Client().post(page(token), {"assignment": "1", "minutes": "5"})

    # Assert
    for response in (shown, posted):
        assert response.status_code == 410
        assert "This link is no longer open" in text(response)
        assert "Slow breathing" not in text(response)
        assert response["Referrer-Policy"] == "no-referrer"
    assert not PracticeLog.objects.exists()


def test_practice_link_tokens_stay_out_of_log_lines(therapist, patient):
    # Arrange
    _link, token = actions.issue_practice_link(by=therapist, patient=patient)
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "GET %s", (page(token),), None
    )

    # Act
    ScrubFilter().filter(record)

    # Assert
    line = logging.Formatter().format(record)
    assert token not in line and "/p/[link]" in line


# Staff logging and adherence


def test_staff_log_checks_dates_against_the_assignment(therapist, patient):
    # Arrange
    assignment = assign(therapist, patient, starts_on=today() - timedelta(days=3))

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.log_practice(
            by=therapist,
            assignment=assignment,
            done_on=today() - timedelta(days=4),
            minutes=0,
            rating=None,
        )
    actions.log_practice(
        by=therapist, assignment=assignment, done_on=today() - timedelta(days=1), minutes=10
    )

    # Assert
    assert sorted(e.field for e in raised.value.errors) == ["done_on", "minutes"]
    (log,) = PracticeLog.objects.all()
    assert log.logged_by == therapist and log.link is None
    event = AuditEvent.objects.get(action="practice.log")
    assert event.actor_id == therapist.pk and event.detail["via"] == "staff"


def test_adherence_on_the_practice_page_and_the_chart_partial(
    therapist, patient, client_for, django_assert_num_queries
):
    # Arrange
    daily = assign(therapist, patient, starts_on=today() - timedelta(days=40))
    assign(therapist, patient, "exercise", starts_on=today() - timedelta(days=40))
    for days_ago in (0, 1, 1, 2, 3, 10):
        actions.log_practice(
            by=therapist, assignment=daily, done_on=today() - timedelta(days=days_ago), minutes=5
        )
    actions.issue_practice_link(by=therapist, patient=patient)

    # Act
    # The assignments and the link go to PostgreSQL together; then the logs.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        practice = queries.chart_practice(patient)
    partial = render_to_string(
        "integration/_chart_practice.html", {"patient": patient, "practice": practice}
    )
    response = client_for(Role.NURSE).get(reverse("practice_home", args=[patient.pk]))

    # Assert
    by_practice = {row.assignment.practice: row for row in practice.rows}
    breathing = by_practice["breathing"]
    assert (breathing.recent.done, breathing.recent.expected, breathing.recent.percent) == (
        4,
        7,
        57,
    )
    assert (breathing.month.done, breathing.month.expected, breathing.month.percent) == (
        5,
        28,
        18,
    )
    assert by_practice["exercise"].recent.percent == 0
    assert practice.link_expires_at is not None
    assert "57%" in partial and "18%" in partial and "Home practice" in partial
    assert response.status_code == 200
    assert "57%" in text(response) and "4 of 7 days" in text(response)
    assert "Assign a practice" not in text(response)


def test_chart_partial_queries_do_not_grow_with_assignments(
    therapist, patient, django_assert_num_queries
):
    # Arrange
    for practice in ("breathing", "mindfulness", "exercise", "sleep_routine"):
        assignment = assign(therapist, patient, practice, starts_on=today() - timedelta(days=5))
        actions.log_practice(by=therapist, assignment=assignment, done_on=today(), minutes=5)

    # Act / Assert
    # The assignments and the link go to PostgreSQL together; then the logs.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        practice = queries.chart_practice(patient)
    assert len(practice.rows) == 4


def test_ending_from_the_page(therapist, patient):
    # Arrange
    assignment = assign(therapist, patient)
    client = signed_in_client(therapist)

    # Act
    response = client.post(reverse("practice_end", args=[patient.pk, assignment.pk]))
    again = client.post(reverse("practice_end", args=[patient.pk, assignment.pk]), follow=True)

    # Assert
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert not assignment.active
    assert "Nothing was saved" in text(again)
    assert AuditEvent.objects.filter(action="practice.end").count() == 1


def test_staff_log_page_with_bad_input_is_422_and_names_the_field(therapist, patient):
    # Arrange
    assignment = assign(therapist, patient)
    client = signed_in_client(therapist)
    url = reverse("practice_log", args=[patient.pk, assignment.pk])

    # Act
    refused = client.post(url, {"done_on": str(today() + timedelta(days=1)), "minutes": "300"})
    saved = client.post(url, {"minutes": "12", "rating": "3"})

    # Assert
    assert refused.status_code == 422
    html = text(refused)
    assert "Nothing was saved" in html
    assert "Day cannot be in the future" in html
    assert "Minutes must be a whole number from 1 to 240" in html
    assert saved.status_code == 302
    (log,) = PracticeLog.objects.all()
    assert (log.done_on, log.minutes, log.rating, log.logged_by) == (today(), 12, 3, therapist)
