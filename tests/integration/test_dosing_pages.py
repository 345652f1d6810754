"""The dosing pages: scheduling, the session screen's steps, refusals, the board and the note."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.dosing import actions
from kapstone.dosing.models import DosingSession, VitalReading
from kapstone.errors import InvalidInput
from tests.conftest import signed_in_client
from tests.integration.access import events_since, last_seq
from tests.integration.dosing_world import NORMAL, session_for, to_monitoring


@pytest.fixture
def nurse(make_staff):
    user = make_staff(Role.NURSE)
    return user, signed_in_client(user)


@pytest.fixture
def running(clinic, make_patient, clinician, make_staff):
    s = session_for(clinic[1], make_patient, clinician, make_staff(Role.PRESCRIBER))
    to_monitoring(s, clinician, make_staff(Role.NURSE), minutes_ago=20)
    return s


def test_scheduling_a_session(clinic, patient, make_staff, client_for):
    prescriber = make_staff(Role.PRESCRIBER)
    client = client_for(Role.NURSE)
    response = client.post(
        reverse("dosing_session_new"),
        {
            "record_number": patient.record_number,
            "site": clinic[1].pk,
            "scheduled_start": "2026-12-01T09:30",
            "prescriber": prescriber.pk,
        },
    )
    session = DosingSession.objects.get(patient=patient)
    assert response.status_code == 302
    assert response["Location"] == reverse("dosing_session", args=[session.pk])


def test_scheduling_an_unknown_record_number_saves_nothing(clinic, make_staff, client_for):
    client = client_for(Role.NURSE)
    response = client.post(
        reverse("dosing_session_new"),
        {
            "record_number": "K999999",
            "site": clinic[1].pk,
            "scheduled_start": "2026-12-01T09:30",
            "prescriber": make_staff(Role.PRESCRIBER).pk,
        },
    )
    assert response.status_code == 422
    assert b"Nothing was saved" in response.content
    assert DosingSession.objects.count() == 0


def test_impossible_vitals_are_refused_on_the_page(running, nurse):
    _user, client = nurse
    before = VitalReading.objects.count()
    response = client.post(
        reverse("dosing_step", args=[running.session.pk, "vitals"]),
        {"heart_rate": "900", "spo2": "97"},
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in html and "physiologically possible range" in html
    assert "900" not in html.split("Timeline")[-1]
    assert VitalReading.objects.count() == before


def test_an_illegal_step_is_refused_with_a_message(running, nurse):
    _user, client = nurse
    response = client.post(
        reverse("dosing_step", args=[running.session.pk, "status"]), {"status": "checked_in"}
    )
    assert response.status_code == 422
    assert "a monitoring session cannot become checked in" in response.content.decode()


def test_early_discharge_is_refused_with_the_reasons(running, nurse):
    _user, client = nurse
    before = last_seq()
    response = client.post(
        reverse("dosing_step", args=[running.session.pk, "discharge"]),
        {
            "escort_present": "on",
            "instructions_acknowledged": "on",
            **{f"aldrete_{k}": "2" for k in ("activity", "respiration", "circulation")},
            "aldrete_consciousness": "2",
            "aldrete_oxygenation": "2",
        },
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "minimum of 120 minutes" in html and "Discharge was refused" in html
    assert DosingSession.objects.get(pk=running.session.pk).status == "monitoring"
    assert [e.action for e in events_since(before)] == ["patient.view"]


def test_the_board_shows_latest_vitals_and_what_is_overdue(running, nurse):
    _user, client = nurse
    actions.record_vitals(
        by=running.session.created_by,
        session=running.session,
        values={**NORMAL, "systolic_bp": "150"},
    )
    response = client.get(reverse("dosing_board_rows"))
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "150/80" in html and running.patient.record_number in html
    # Respiratory rate has never been taken: overdue.
    assert "respiratory_rate" in html
    assert "20 min" in html or "21 min" in html


def test_the_note_and_its_pdf(running, nurse):
    _user, client = nurse
    html = client.get(reverse("dosing_note", args=[running.session.pk])).content.decode()
    assert "Dose given" in html and "Cleared for dosing" in html
    response = client.get(reverse("dosing_note_pdf", args=[running.session.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_the_note_of_an_esketamine_session_has_the_rems_data(
    clinic, make_patient, clinician, make_staff, nurse
):
    s = session_for(
        clinic[1], make_patient, clinician, make_staff(Role.PRESCRIBER), route="in_esketamine"
    )
    from tests.integration.dosing_world import to_cleared

    to_cleared(s, clinician)
    started = timezone.now() - timedelta(minutes=130)
    actions.record_administration(
        by=clinician,
        session=s.session,
        drug="Esketamine",
        route="in_esketamine",
        concentration_mg_per_ml="140",
        lot="SPR-1",
        expires_on=timezone.localdate() + timedelta(days=90),
        dose_mg="56",
        devices=2,
        rest_minutes=5,
        started_at=started,
        stopped_at=started + timedelta(minutes=5),
        witness=make_staff(Role.NURSE),
    )
    _user, client = nurse
    html = client.get(reverse("dosing_note", args=[s.session.pk])).content.decode()
    assert "Spravato REMS Patient Monitoring Form data" in html and "SPR-1" in html


# Vital-sign alerts


def _alert(running, by):
    from kapstone.dosing.models import VitalAlert

    actions.record_vitals(by=by, session=running.session, values={"spo2": "88"})
    return VitalAlert.objects.get(session=running.session)


def _ack(client, running, alert, text):
    return client.post(
        reverse("dosing_alert_acknowledge", args=[running.session.pk, alert.pk]),
        {"action_taken": text},
    )


def test_an_alert_is_acknowledged_from_the_session_page(running, nurse):
    user, client = nurse
    alert = _alert(running, user)
    page = client.get(reverse("dosing_session", args=[running.session.pk])).content.decode()
    ack_url = reverse("dosing_alert_acknowledge", args=[running.session.pk, alert.pk])
    assert "Open alerts" in page and f'action="{ack_url}"' in page
    board = client.get(reverse("dosing_board_rows")).content.decode()
    assert "<strong>1</strong>" in board

    response = _ack(client, running, alert, "Oxygen 2 L/min; rechecked")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.action_taken == "Oxygen 2 L/min; rechecked"

    page = client.get(reverse("dosing_session", args=[running.session.pk])).content.decode()
    assert "Open alerts" not in page and "Acknowledged alerts" in page
    board = client.get(reverse("dosing_board_rows")).content.decode()
    assert "<strong>1</strong>" not in board
    note = client.get(reverse("dosing_note", args=[running.session.pk])).content.decode()
    assert f"acknowledged by {user.display_name}" in note
    assert "Oxygen 2 L/min; rechecked" in note


def test_an_unacknowledged_alert_shows_as_open_in_the_note(running, nurse):
    user, client = nurse
    _alert(running, user)
    note = client.get(reverse("dosing_note", args=[running.session.pk])).content.decode()
    assert "spo2 below 92; not acknowledged" in note


def test_an_acknowledgement_without_an_action_saves_nothing(running, nurse):
    user, client = nurse
    alert = _alert(running, user)
    response = _ack(client, running, alert, "  ")
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in html and "This field is required" in html
    alert.refresh_from_db()
    assert alert.is_open


def test_a_second_acknowledgement_is_refused_with_a_message(running, nurse, make_staff):
    user, client = nurse
    alert = _alert(running, user)
    assert _ack(client, running, alert, "Rechecked").status_code == 302
    other = signed_in_client(make_staff(Role.NURSE))
    response = _ack(other, running, alert, "Also seen")
    html = response.content.decode()
    assert response.status_code == 422
    assert "has already been acknowledged" in html
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.action_taken == "Rechecked"


def test_an_alert_of_another_session_is_not_found(running, nurse, clinic, make_patient, clinician):
    user, client = nurse
    alert = _alert(running, user)
    other = session_for(clinic[1], make_patient, clinician, running.session.prescriber)
    response = client.post(
        reverse("dosing_alert_acknowledge", args=[other.session.pk, alert.pk]),
        {"action_taken": "Seen"},
    )
    assert response.status_code == 404
    alert.refresh_from_db()
    assert alert.is_open


# The monitoring schedule: vitals interval and CADSS


def _dosed(clinic, make_patient, clinician, make_staff, minutes_ago):
    s = session_for(clinic[1], make_patient, clinician, make_staff(Role.PRESCRIBER))
    to_monitoring(s, clinician, make_staff(Role.NURSE), minutes_ago=minutes_ago)
    return s


def _cadss(s, by, minutes_after_dose, score=1):
    from kapstone.assessments import actions as assessments

    started = DosingSession.objects.get(pk=s.session.pk).dose_started_at
    return assessments.record_assessment(
        by=by,
        patient=s.patient,
        instrument="cadss",
        answers={f"q{i}": score for i in range(1, 24)},
        answered_at=started + timedelta(minutes=minutes_after_dose),
    )


def test_cadss_due_is_prompted_on_the_session_page_and_the_board(
    clinic, make_patient, clinician, make_staff, nurse
):
    _user, client = nurse
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=45)
    page = client.get(reverse("dosing_session", args=[s.session.pk])).content.decode()
    assert "CADSS due at +40 min" in page
    assert reverse("assessment_new", args=[s.patient.pk, "cadss"]) in page
    assert "CADSS at +120 min" in page
    row = _board_row(client, s)
    assert "CADSS due" in row


def test_a_recorded_cadss_clears_the_prompt_and_is_in_the_note(
    clinic, make_patient, clinician, make_staff, nurse
):
    _user, client = nurse
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=45)
    _cadss(s, clinician, 41, score=1)
    page = client.get(reverse("dosing_session", args=[s.session.pk])).content.decode()
    assert "CADSS due" not in page and "Done for +40 min: total 23" in page
    assert "CADSS due" not in _board_row(client, s)
    note = client.get(reverse("dosing_note", args=[s.session.pk])).content.decode()
    assert 'data-testid="note-cadss"' in note and "<td>+41</td><td>23</td>" in note


def test_an_overdue_cadss_stays_on_the_board(clinic, make_patient, clinician, make_staff, nurse):
    _user, client = nurse
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=60)
    page = client.get(reverse("dosing_session", args=[s.session.pk])).content.decode()
    assert "CADSS overdue: due at +40 min" in page
    assert "CADSS due" in _board_row(client, s)


def test_no_cadss_prompt_before_its_time(clinic, make_patient, clinician, make_staff, nurse):
    _user, client = nurse
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=10)
    page = client.get(reverse("dosing_session", args=[s.session.pk])).content.decode()
    assert "CADSS at +40 min" in page and "CADSS due" not in page
    assert "CADSS due" not in _board_row(client, s)


def _board_row(client, s) -> str:
    html = client.get(reverse("dosing_board_rows")).content.decode()
    start = html.index(f'data-testid="board-{s.session.pk}"')
    return html[start : html.index("</tr>", start)]


def _set_monitoring(settings_):
    from kapstone.core.models import Organization

    org = Organization.current()
    org.settings_overrides = {"monitoring": settings_}
    org.save(update_fields=["settings_overrides"])


def _overdue_in(s, minutes):
    """What the board will call overdue for the session this many minutes from now (its
    latest readings are the pre-dose check's, taken now)."""
    from kapstone.dosing import queries

    later = timezone.now() + timedelta(minutes=minutes)
    (row,) = queries.board(session_ids=[s.session.pk], now=later)
    return row.interval, row.overdue


def test_the_clinics_interval_decides_what_is_overdue(
    clinic, make_patient, clinician, make_staff, nurse
):
    _user, client = nurse
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=130)
    # Shipped: every 15 minutes after the dose, so readings 20 minutes old are overdue.
    interval, overdue = _overdue_in(s, 20)
    assert interval == 15 and "heart_rate" in overdue
    _set_monitoring({"schedule": {"vitals_after_dose_minutes": 30}})
    interval, overdue = _overdue_in(s, 20)
    assert interval == 30 and "heart_rate" not in overdue
    board = client.get(reverse("dosing_board")).content.decode()
    assert "every 30 minutes after it" in board


def test_a_bad_clinic_setting_is_refused_by_name(clinic, make_patient, clinician, make_staff):
    from kapstone.dosing import queries

    _set_monitoring({"schedule": {"vitals_after_dose_minutes": 0}})
    with pytest.raises(InvalidInput, match="schedule.vitals_after_dose_minutes"):
        queries.monitoring_schedule()


def test_vitals_are_due_more_often_while_an_infusion_runs(
    clinic, make_patient, clinician, make_staff, nurse
):
    _user, client = nurse
    # The world's infusions run 40 minutes from their start.
    running = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=20)
    finished = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=130)
    interval, overdue = _overdue_in(running, 12)
    assert interval == 10 and "heart_rate" in overdue
    interval, overdue = _overdue_in(finished, 12)
    assert interval == 15 and "heart_rate" not in overdue
    page = client.get(reverse("dosing_session", args=[running.session.pk])).content.decode()
    assert "vitals every 10 min" in page


def test_the_clinics_cadss_times_are_used(clinic, make_patient, clinician, make_staff, nurse):
    _user, client = nurse
    _set_monitoring({"schedule": {"cadss_minutes": [5, 60]}})
    s = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=10)
    page = client.get(reverse("dosing_session", args=[s.session.pk])).content.decode()
    assert "CADSS due at +5 min" in page and "CADSS at +60 min" in page
    assert "clinic setting" in page


def test_the_boards_queries_do_not_grow_with_its_sessions(
    clinic, make_patient, clinician, make_staff, nurse
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _user, client = nurse

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("dosing_board_rows")).status_code == 200
        return len(queries)

    first = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=45)
    _cadss(first, clinician, 41)
    count()  # the first request of a client also touches its session
    one = count()
    for minutes in (50, 130):
        more = _dosed(clinic, make_patient, clinician, make_staff, minutes_ago=minutes)
        _cadss(more, clinician, 41)
        _alert(more, clinician)
    assert count() == one


# Administration from a ledger container


@pytest.fixture
def cleared(clinic, make_patient, clinician, make_staff):
    from tests.integration.dosing_world import to_cleared

    s = session_for(clinic[1], make_patient, clinician, make_staff(Role.PRESCRIBER))
    to_cleared(s, clinician)
    return s


def _vial(by, site):
    from kapstone.ledger import actions as ledger
    from kapstone.ledger.models import Container
    from tests.integration.test_ledger_fixtures import receive

    safe = ledger.add_location(by=by, site=site, name="Safe", kind="safe")
    return Container.objects.get(receipt=receive(by, safe, containers=1))


def _dose_form(container, witness, dose="35"):
    now = timezone.localtime().replace(second=0, microsecond=0)
    return {
        "container": container.pk,
        "route": "iv",
        "dose_mg": dose,
        "volume_ml": str(Decimal(dose) / 50),
        "rate_ml_per_hour": "10",
        "started_at": now.strftime("%Y-%m-%dT%H:%M"),
        "stopped_at": (now + timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M"),
        "witness": witness.pk,
    }


def test_the_administration_form_lists_the_sites_containers(cleared, nurse, make_staff):
    user, client = nurse
    container = _vial(user, cleared.session.site)
    page = client.get(reverse("dosing_session", args=[cleared.session.pk])).content.decode()
    label = (
        f"{container.label} · Ketamine HCl injection, 50 mg/mL · lot LOT-A1 · "
        f"expires {container.expires_on:%Y-%m-%d} · 500 mg left"
    )
    assert label in page


def test_a_dose_from_a_container_draws_on_the_ledger(cleared, nurse, make_staff):
    from kapstone.dosing.models import Administration
    from kapstone.ledger.models import LedgerEntry

    user, client = nurse
    container = _vial(user, cleared.session.site)
    response = client.post(
        reverse("dosing_step", args=[cleared.session.pk, "administration"]),
        _dose_form(container, make_staff(Role.NURSE)),
    )
    assert response.status_code == 302
    entries = LedgerEntry.objects.filter(container=container, kind="administer")
    assert entries.count() == 1 and entries[0].session_id == cleared.session.pk
    container.refresh_from_db()
    assert container.balance_mg == Decimal(465)
    given = Administration.objects.get(session=cleared.session)
    assert (given.lot, given.concentration_mg_per_ml) == ("LOT-A1", Decimal(50))
    assert given.ledger_entry_id == entries[0].pk


def test_an_over_draw_is_a_field_error_and_saves_nothing(cleared, nurse, make_staff):
    from kapstone.dosing.models import Administration
    from kapstone.ledger.models import LedgerEntry

    user, client = nurse
    container = _vial(user, cleared.session.site)
    entries = LedgerEntry.objects.count()
    response = client.post(
        reverse("dosing_step", args=[cleared.session.pk, "administration"]),
        _dose_form(container, make_staff(Role.NURSE), dose="600"),
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in html
    field = html.split("field-container")[1].split("field-drug")[0]
    assert "holds less than the dose" in field
    assert LedgerEntry.objects.count() == entries
    container.refresh_from_db()
    assert container.balance_mg == container.initial_mg
    assert not Administration.objects.filter(session=cleared.session).exists()
    assert DosingSession.objects.get(pk=cleared.session.pk).status == "cleared"
