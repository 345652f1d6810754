"""Check-ins between sessions: the patient's link, the staff pages, the worker's runs and the
server that starts the worker."""

import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, time, timedelta
from html import escape
from time import monotonic, sleep
from urllib.request import urlopen

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, CheckIn, CheckInSchedule, RiskAlert
from kapstone.audit.models import AuditEvent
from kapstone.core.logging import ScrubFilter
from kapstone.core.models import Organization
from kapstone.dosing.actions import schedule_session
from tests.integration.access import events_since, last_seq

GAD7_CALM = {f"gad7__q{i}": "0" for i in range(1, 8)}
PHQ9_CALM = {f"phq9__q{i}": "0" for i in range(1, 10)}


@pytest.fixture
def patient(make_patient):
    return make_patient(first_name="Marisol", last_name="Vantongeren", email="mv@example.com")


@pytest.fixture
def alert_clinician(make_staff):
    nurse = make_staff(Role.NURSE)
    get_user_model().objects.filter(pk=nurse.pk).update(email="nurse@clinic.example")
    return nurse


def send(by, patient, *instruments, email=False):
    return actions.send_checkin(by=by, patient=patient, instruments=list(instruments), email=email)


def answer_url(token: str) -> str:
    return reverse("checkin_answer", args=[token])


def text(response) -> str:
    return response.content.decode()


def close(checkin, before=timedelta(seconds=1)) -> None:
    """Make a check-in's link past its closing time (as if sent days ago)."""
    closed = timezone.now() - before
    CheckIn.objects.filter(pk=checkin.pk).update(
        due_at=closed - timedelta(hours=72), expires_at=closed
    )


def crisis_names() -> list[str]:
    """As they appear in a page's HTML."""
    return [escape(line["name"]) for line in Organization.current().config.crisis_lines]


# The patient's page


def test_answer_page_is_phone_first_and_anonymous(clinician, patient):
    # Arrange
    _checkin, token = send(clinician, patient, "gad7", "phq9")

    # Act
    response = Client().get(answer_url(token))

    # Assert
    html = text(response)
    assert response.status_code == 200
    assert 'name="viewport"' in html
    assert "Over the last 2 weeks, how often have you been bothered" in html
    assert html.count('type="radio"') == (7 + 9) * 4
    assert "Nearly every day" in html
    assert "1 of 16" in html and "16 of 16" in html
    assert "Your clinic" in html
    assert patient.first_name not in html and patient.last_name not in html
    assert patient.record_number not in html


def test_answer_page_headers_keep_the_token_to_itself(clinician, patient):
    # Arrange
    _checkin, token = send(clinician, patient, "gad7")

    # Act
    response = Client().get(answer_url(token))

    # Assert
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert "no-store" in response["Cache-Control"]


def test_answering_stores_scores_and_thanks(clinician, patient):
    # Arrange
    checkin, token = send(clinician, patient, "gad7")
    answers = {**GAD7_CALM, "gad7__q1": "3", "gad7__q2": "2"}
    client = Client()

    # Act
    response = client.post(answer_url(token), answers)
    thanks = client.get(response["Location"])

    # Assert
    assert response.status_code == 302
    assert response["Location"] == reverse("checkin_thanks")
    (assessment,) = Assessment.objects.filter(patient=patient)
    assert (assessment.instrument, assessment.total, assessment.source) == ("gad7", 5, "checkin")
    assert assessment.checkin_id == checkin.pk
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckIn.Status.COMPLETED
    assert thanks.status_code == 200
    assert "Thank you" in text(thanks)
    assert 'class="crisis urgent"' not in text(thanks)
    assert thanks["Referrer-Policy"] == "no-referrer"


def test_answering_works_from_a_page_that_sends_no_referrer(clinician, patient):
    # Arrange: with Referrer-Policy no-referrer a browser posts the form with Origin: null.
    _checkin, token = send(clinician, patient, "gad7")
    client = Client(enforce_csrf_checks=True)

    # Act
    response = client.post(answer_url(token), GAD7_CALM, HTTP_ORIGIN="null", secure=True)

    # Assert
    assert response.status_code == 302


def test_invalid_answers_name_the_item_and_store_nothing(clinician, patient):
    # Arrange
    checkin, token = send(clinician, patient, "gad7")
    answers = {**GAD7_CALM, "gad7__q3": "7"}
    del answers["gad7__q5"]
    before_seq = last_seq()

    # Act
    response = Client().post(answer_url(token), answers)

    # Assert
    html = text(response)
    assert response.status_code == 422
    assert "Nothing has been sent yet" in html
    assert re.search(r'id="q-gad7__q3".*?Choose one of the answers shown', html, re.DOTALL)
    assert re.search(r'id="q-gad7__q5".*?Please choose an answer', html, re.DOTALL)
    assert 'value="0" checked' in html  # what was given stays chosen
    assert not Assessment.objects.filter(patient=patient).exists()
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckIn.Status.PENDING
    assert events_since(before_seq) == []


def test_an_unfinished_form_with_a_risk_answer_shows_crisis_lines_first(clinician, patient):
    # Arrange
    _checkin, token = send(clinician, patient, "phq9")
    answers = {"phq9__q9": "2"}

    # Act
    response = Client().post(answer_url(token), answers)

    # Assert
    html = text(response)
    assert response.status_code == 422
    assert html.index('class="crisis urgent"') < html.index("<form")
    for name in crisis_names():
        assert name in html
    assert not RiskAlert.objects.exists()


def test_suicide_risk_answer_alerts_clinicians_and_shows_crisis_lines(
    clinician, patient, alert_clinician, django_capture_on_commit_callbacks
):
    # Arrange
    _checkin, token = send(clinician, patient, "phq9")
    client = Client()
    mail.outbox.clear()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(answer_url(token), {**PHQ9_CALM, "phq9__q9": "1"})
    thanks = client.get(response["Location"])

    # Assert
    (alert,) = RiskAlert.objects.filter(patient=patient)
    assert alert.code == "suicide_risk" and alert.status == RiskAlert.Status.OPEN
    assert alert.notified_at is not None
    html = text(thanks)
    assert html.index('class="crisis urgent"') < html.index("<h2>Thank you")
    for name in crisis_names():
        assert name in html
    (message,) = mail.outbox
    assert message.to == ["nurse@clinic.example"]
    assert "urgent" in message.subject
    for word in (patient.first_name, patient.last_name, patient.record_number, token):
        assert word not in message.body and word not in message.subject


def test_thanks_without_an_answer_in_this_browser_says_nothing(db):
    # Act
    response = Client().get(reverse("checkin_thanks"))

    # Assert
    html = text(response)
    assert response.status_code == 200
    assert "There is nothing to show here" in html
    assert 'class="crisis urgent"' not in html
    for name in crisis_names():
        assert name in html


def test_link_is_single_use(clinician, patient):
    # Arrange
    _checkin, token = send(clinician, patient, "gad7")
    Client().post(answer_url(token), GAD7_CALM)

    # Act
    again = Client().get(answer_url(token))
    resubmit = Client().post(answer_url(token), GAD7_CALM)

    # Assert
    assert again.status_code == 410
    assert resubmit.status_code == 410
    assert Assessment.objects.filter(patient=patient).count() == 1


def test_unknown_used_expired_and_cancelled_links_look_the_same(clinician, patient):
    # Arrange
    _used, used_token = send(clinician, patient, "gad7")
    Client().post(answer_url(used_token), GAD7_CALM)
    expired, expired_token = send(clinician, patient, "gad7")
    close(expired)
    cancelled, cancelled_token = send(clinician, patient, "gad7")
    actions.cancel_checkin(by=clinician, checkin=cancelled)
    unknown_token = actions._token_for("0" * 32)

    # Act
    responses = [
        Client().get(answer_url(token))
        for token in (unknown_token, used_token, expired_token, cancelled_token, "x")
    ]

    # Assert
    assert {r.status_code for r in responses} == {410}
    bodies = {r.content for r in responses}
    assert len(bodies) == 1
    html = text(responses[0])
    assert "This link is no longer open" in html
    for name in crisis_names():
        assert name in html
    assert {r["Referrer-Policy"] for r in responses} == {"no-referrer"}


def test_answer_after_expiry_is_refused(clinician, patient):
    # Arrange
    checkin, token = send(clinician, patient, "gad7")
    client = Client()
    assert client.get(answer_url(token)).status_code == 200
    close(checkin)

    # Act
    response = client.post(answer_url(token), GAD7_CALM)

    # Assert
    assert response.status_code == 410
    assert not Assessment.objects.filter(patient=patient).exists()


def test_the_token_is_never_in_the_audit_trail(clinician, patient, client_for):
    # Arrange
    checkin, token = send(clinician, patient, "phq9")
    staff = client_for(Role.NURSE)
    staff.get(reverse("checkin_link", args=[patient.pk, checkin.pk]))

    # Act
    Client().post(answer_url(token), {**PHQ9_CALM, "phq9__q9": "2"})

    # Assert
    rows = list(AuditEvent.objects.values_list("action", "detail", "target_id"))
    assert {"checkin.send", "checkin.show_link", "checkin.complete"} <= {r[0] for r in rows}
    for row in rows:
        assert token not in str(row)
        assert checkin.nonce not in str(row)


def test_crisis_page_is_public(db):
    # Act
    response = Client().get(reverse("crisis"))

    # Assert
    assert response.status_code == 200
    for name in crisis_names():
        assert name in text(response)
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("django.security.csrf", ("CSRF cookie not set.", "/c/{token}/"), "Forbidden (%s): %s"),
        ("django.request", ("/c/{token}/",), "Internal Server Error: %s"),
        ("kapstone", (), "opened http://host/c/{token}/ twice"),
    ],
    ids=["csrf", "server-error", "in-message"],
)
def test_log_lines_carry_no_token(name, args, message):
    # Arrange
    token = actions._token_for("1" * 32)
    record = logging.LogRecord(
        name,
        logging.WARNING,
        __file__,
        1,
        message.format(token=token),
        tuple(a.format(token=token) for a in args),
        None,
    )

    # Act
    ScrubFilter().filter(record)

    # Assert
    line = logging.Formatter().format(record)
    assert token not in line
    assert "/c/[link]" in line


# The staff pages


def test_sending_shows_the_link_once_and_e_mails_it(
    patient, client_for, django_capture_on_commit_callbacks
):
    # Arrange
    client = client_for(Role.FRONT_DESK)
    mail.outbox.clear()
    before_seq = last_seq()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("checkin_send", args=[patient.pk]),
            {"instruments": ["gad7"], "timepoint": "weekly", "email": "on"},
        )
    page = client.get(response["Location"])

    # Assert
    checkin = CheckIn.objects.get(patient=patient)
    token = actions.link_token(checkin)
    assert response["Location"] == reverse("checkin_link", args=[patient.pk, checkin.pk])
    assert checkin.timepoint == "weekly" and checkin.emailed_at is not None
    assert text(page).count(answer_url(token)) == 1
    assert page["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page["Cache-Control"]
    assert [(e.action, e.patient_id) for e in events_since(before_seq)] == [
        ("checkin.send", patient.pk),
        ("checkin.show_link", patient.pk),
    ]
    (message,) = mail.outbox
    assert message.to == [patient.email]
    assert answer_url(token) in message.body
    for word in (patient.first_name, patient.last_name, patient.record_number):
        assert word not in message.body and word not in message.subject
    for line in Organization.current().config.crisis_lines:
        assert line["name"] in message.body


def test_send_refuses_what_a_patient_may_not_answer(patient, client_for):
    # Arrange
    client = client_for(Role.NURSE)

    # Act
    response = client.post(
        reverse("checkin_send", args=[patient.pk]),
        {"instruments": ["hama"], "timepoint": "other"},
    )
    empty = client.post(reverse("checkin_send", args=[patient.pk]), {"timepoint": "other"})

    # Assert
    assert response.status_code == 422
    assert "hama" not in [c for c, _ in response.context["form"].fields["instruments"].choices]
    assert empty.status_code == 422
    assert "choose at least one questionnaire" in text(empty)
    assert not CheckIn.objects.exists()


def test_list_shows_each_state(clinician, patient, client_for):
    # Arrange
    send(clinician, patient, "gad7")
    _answered, token = send(clinician, patient, "phq9")
    Client().post(answer_url(token), PHQ9_CALM)
    cancelled, _ = send(clinician, patient, "gad7")
    actions.cancel_checkin(by=clinician, checkin=cancelled)
    expired, _ = send(clinician, patient, "pcl5")
    close(expired, before=timedelta(minutes=1))

    # Act
    response = client_for(Role.THERAPIST).get(reverse("checkin_list", args=[patient.pk]))

    # Assert
    html = text(response)
    for label in ("Waiting for answers", "Answered", "Cancelled", "Expired"):
        assert label in html
    assert html.count("Show link") == 1


def test_link_of_a_closed_check_in_is_not_shown(clinician, patient, client_for):
    # Arrange
    checkin, _ = send(clinician, patient, "gad7")
    actions.cancel_checkin(by=clinician, checkin=checkin)

    # Act
    response = client_for(Role.NURSE).get(reverse("checkin_link", args=[patient.pk, checkin.pk]))

    # Assert
    assert response.status_code == 404


def test_schedule_page_sets_the_clinic_plan(patient, client_for):
    # Arrange
    client = client_for(Role.THERAPIST)

    # Act
    page = client.get(reverse("schedule_new", args=[patient.pk]))
    response = client.post(reverse("schedule_new", args=[patient.pk]), {"plan": "default"})

    # Assert
    assert "GAD-7 24 h before every dosing session" in text(page)
    assert response.status_code == 302
    rows = CheckInSchedule.objects.filter(patient=patient).order_by("kind", "offset_hours")
    assert [(s.kind, s.offset_hours, s.instruments) for s in rows] == [
        ("after_dosing", 24, ["gad7"]),
        ("after_dosing", 168, ["gad7"]),
        ("before_dosing", 24, ["gad7"]),
    ]


def test_schedule_needs_an_e_mail_address_and_says_so(make_patient, client_for):
    # Arrange
    no_email = make_patient()
    client = client_for(Role.THERAPIST)

    # Act
    response = client.post(
        reverse("schedule_new", args=[no_email.pk]),
        {"plan": "custom", "kind": "after_dosing", "instruments": ["gad7"]},
    )

    # Assert
    html = text(response)
    assert response.status_code == 422
    assert "no e-mail address on file" in html
    assert "must be a whole number of hours from 1 to 672" in html
    assert not CheckInSchedule.objects.exists()


# The worker


@pytest.fixture
def dosing(clinic, clinician, patient):
    _org, site = clinic

    def make(start):
        return schedule_session(
            by=clinician, patient=patient, site=site, scheduled_start=start, prescriber=clinician
        )

    return make


def _clinic_plan(clinician, patient):
    for entry in actions.default_plan():
        actions.create_schedule(by=clinician, patient=patient, **entry)


def test_worker_makes_scheduled_check_ins_at_the_right_times_once(
    clinician, patient, dosing, django_capture_on_commit_callbacks
):
    # Arrange
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    session = dosing(start)
    _clinic_plan(clinician, patient)
    mail.outbox.clear()
    moments = [
        start - timedelta(hours=25),  # nothing yet
        start - timedelta(hours=24),  # pre-dose
        start - timedelta(hours=23),  # nothing new
        start + timedelta(hours=24, minutes=1),  # 24 h after
        start + timedelta(hours=168, minutes=1),  # 7 days after
        start + timedelta(hours=168, minutes=2),  # nothing new
    ]

    # Act
    counts = []
    with django_capture_on_commit_callbacks(execute=True):
        for now in moments:
            counts.append(len(actions.materialize_due_checkins(now)))

    # Assert
    assert counts == [0, 1, 0, 1, 1, 0]
    rows = CheckIn.objects.filter(patient=patient).order_by("due_at")
    assert [(c.timepoint, c.occurrence, c.due_at) for c in rows] == [
        ("pre_dose", f"dose:{session.pk}:pre", start - timedelta(hours=24)),
        ("post_24h", f"dose:{session.pk}:+24h", start + timedelta(hours=24)),
        ("post_7d", f"dose:{session.pk}:+168h", start + timedelta(hours=168)),
    ]
    assert rows[0].expires_at == start
    assert all(c.created_by is None and c.emailed_at is not None for c in rows)
    assert len(mail.outbox) == 3
    runs = AuditEvent.objects.filter(action="checkin.schedule_run")
    assert runs.count() == 3
    assert {(e.actor_id, e.patient_id) for e in runs} == {(None, patient.pk)}


def test_worker_skips_cancelled_sessions_and_ended_schedules(clinician, patient, dosing):
    # Arrange
    from kapstone.dosing.actions import change_status

    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    cancelled = dosing(start)
    change_status(by=clinician, session=cancelled, status="cancelled")
    # Starting tomorrow, so whatever the time of day the test runs, its first week is not due
    # before the schedule ends.
    weekly = actions.create_schedule(
        by=clinician,
        patient=patient,
        kind="weekly",
        instruments=["phq9"],
        starts_on=timezone.localdate() + timedelta(days=1),
    )
    actions.end_schedule(by=clinician, schedule=weekly)
    _clinic_plan(clinician, patient)

    # Act
    made = [
        actions.materialize_due_checkins(start + timedelta(hours=offset))
        for offset in (-24, 24, 168)
    ]

    # Assert
    assert [[(c.occurrence, c.timepoint) for c in m] for m in made] == [[], [], []]
    assert not CheckIn.objects.exists()


def test_weekly_schedule_runs_from_its_start(clinician, patient):
    # Arrange
    schedule = actions.create_schedule(
        by=clinician, patient=patient, kind="weekly", instruments=["gad7", "phq9"]
    )
    first = datetime.combine(schedule.starts_on, time(9), tzinfo=timezone.get_current_timezone())

    # Act
    made = [
        len(actions.materialize_due_checkins(first + timedelta(days=days))) for days in (0, 1, 7, 7)
    ]

    # Assert
    assert made == [1, 0, 1, 0]
    assert list(CheckIn.objects.values_list("occurrence", "timepoint", "instruments")) == [
        (f"week:{schedule.starts_on.isoformat()}", "weekly", ["gad7", "phq9"]),
        (
            f"week:{(schedule.starts_on + timedelta(days=7)).isoformat()}",
            "weekly",
            ["gad7", "phq9"],
        ),
    ]


def test_one_reminder_per_overdue_check_in(clinician, patient, django_capture_on_commit_callbacks):
    # Arrange
    with django_capture_on_commit_callbacks(execute=True):
        checkin, token = send(clinician, patient, "gad7", email=True)
        not_emailed, _ = send(clinician, patient, "gad7", email=False)
    mail.outbox.clear()
    due = CheckIn.objects.get(pk=checkin.pk).due_at

    # Act
    early = actions.send_reminders(due + timedelta(hours=23))
    first = actions.send_reminders(due + timedelta(hours=24, minutes=1))
    again = actions.send_reminders(due + timedelta(hours=30))

    # Assert
    assert (early, first, again) == (0, 1, 0)
    (message,) = mail.outbox
    assert "reminder" in message.body
    assert answer_url(token) in message.body
    assert patient.last_name not in message.body
    assert CheckIn.objects.get(pk=checkin.pk).reminded_at == due + timedelta(hours=24, minutes=1)
    assert CheckIn.objects.get(pk=not_emailed.pk).reminded_at is None
    (event,) = AuditEvent.objects.filter(action="checkin.remind")
    assert (event.actor_id, event.patient_id) == (None, patient.pk)


def test_no_reminder_for_an_answered_check_in(
    clinician, patient, django_capture_on_commit_callbacks
):
    # Arrange
    with django_capture_on_commit_callbacks(execute=True):
        checkin, token = send(clinician, patient, "gad7", email=True)
    Client().post(answer_url(token), GAD7_CALM)
    mail.outbox.clear()

    # Act
    sent = actions.send_reminders(checkin.due_at + timedelta(hours=25))

    # Assert
    assert sent == 0 and mail.outbox == []


def test_expiry_closes_pending_links_once(clinician, patient):
    # Arrange
    pending, token = send(clinician, patient, "gad7")
    answered, answered_token = send(clinician, patient, "gad7")
    Client().post(answer_url(answered_token), GAD7_CALM)
    after = CheckIn.objects.get(pk=pending.pk).expires_at

    # Act
    before_expiry = actions.expire_checkins(after - timedelta(seconds=1))
    at_expiry = actions.expire_checkins(after)
    again = actions.expire_checkins(after + timedelta(hours=1))

    # Assert
    assert (before_expiry, at_expiry, again) == (0, 1, 0)
    assert CheckIn.objects.get(pk=pending.pk).status == CheckIn.Status.EXPIRED
    assert CheckIn.objects.get(pk=answered.pk).status == CheckIn.Status.COMPLETED
    (event,) = AuditEvent.objects.filter(action="checkin.expire")
    assert (event.actor_id, event.patient_id, event.target_id) == (
        None,
        patient.pk,
        str(pending.pk),
    )
    assert Client().get(answer_url(token)).status_code == 410


def test_the_periodic_task_runs_all_three(clinician, patient):
    # Arrange
    from kapstone.assessments import tasks

    pending, _ = send(clinician, patient, "gad7")
    close(pending)

    # Act
    result = tasks.run_checkin_schedules.call_local()

    # Assert
    assert result == {"expired": 1, "made": 0, "reminded": 0}


# The worker beside the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lines(stream, into: queue.Queue):
    for line in iter(stream.readline, ""):
        into.put(line)


def _wait_for(lines: queue.Queue, pattern: str, seen: list[str], timeout: float = 20.0):
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_serve_starts_restarts_and_stops_the_worker(tmp_path):
    # Arrange
    port = _free_port()
    env = {**os.environ, "KAPSTONE_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kapstone.cli", "serve", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(server.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    token = actions._token_for("2" * 32)
    try:
        first = int(_wait_for(lines, r"background worker started \(pid (\d+)\)", seen)[1])
        _wait_for(lines, r"Booting worker", seen)
        for _ in range(50):
            try:
                with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                sleep(0.1)
        # The throwaway data directory has no tables: the page fails, and is logged all the same.
        try:
            urlopen(f"http://127.0.0.1:{port}/c/{token}/", timeout=5).close()
        except OSError as error:
            getattr(error, "close", lambda: None)()
        _wait_for(lines, r'"GET /c/\[link\]/" \d+', seen)

        # Act: the worker dies, then the server is asked to stop.
        os.kill(first, signal.SIGKILL)
        second = int(_wait_for(lines, r"background worker started \(pid (\d+)\)", seen)[1])
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)

        # Assert
        assert second != first
        sleep(0.2)
        assert not _alive(second)
        while not lines.empty():
            seen.append(lines.get())
        output = "".join(seen)
        assert "stopped unexpectedly" in output
        assert token not in output
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        reader.join(timeout=5)
        server.stdout.close()
