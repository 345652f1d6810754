"""The dosing pages: scheduling, the session screen's steps, refusals, the board and the note."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.dosing import actions
from kapstone.dosing.models import DosingSession, VitalReading
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
