"""Dosing-session pages, against every role."""

from dataclasses import dataclass

import pytest
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.dosing import actions
from kapstone.dosing.models import DosingSession, PreDoseCheck, VitalAlert, VitalReading
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    no_args,
)
from tests.integration.dosing_world import (
    FULL_ALDRETE,
    NORMAL,
    session_for,
    to_monitoring,
)


@dataclass
class World:
    patient: Patient
    scheduled: DosingSession
    checked_in: DosingSession
    monitoring: DosingSession
    done: DosingSession
    alert: VitalAlert


@pytest.fixture
def world(clinic, make_patient, clinician, make_staff):
    site = clinic[1]
    prescriber = make_staff(Role.PRESCRIBER)
    witness = make_staff(Role.NURSE)
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    scheduled = actions.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now(),
        prescriber=prescriber,
    )
    checked_in = actions.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now(),
        prescriber=prescriber,
    )
    actions.change_status(by=clinician, session=checked_in, status="checked_in")
    # Sessions under way belong to patients of their own (the board lists one row each).
    running = session_for(site, make_patient, clinician, prescriber)
    to_monitoring(running, clinician, witness, minutes_ago=130)
    actions.record_vitals(by=clinician, session=running.session, values=NORMAL)
    done = session_for(site, make_patient, clinician, prescriber)
    to_monitoring(done, clinician, witness, minutes_ago=130)
    actions.record_vitals(by=clinician, session=done.session, values={"spo2": "88"})
    alert = VitalAlert.objects.get(session=done.session)
    return World(patient, scheduled, checked_in, running.session, done.session, alert)


def status_of(attr):
    return lambda w: DosingSession.objects.get(pk=getattr(w, attr).pk).status


def readings_of(attr):
    return lambda w: VitalReading.objects.filter(session=getattr(w, attr)).count()


def checks_of(attr):
    return lambda w: PreDoseCheck.objects.filter(session=getattr(w, attr)).count()


def acknowledged(w):
    return VitalAlert.objects.get(pk=w.alert.pk).acknowledged_at is not None


def patient_of(attr):
    return lambda w, response: getattr(w, attr).patient_id


PAGES = [
    Page(
        "sessions",
        "get",
        "dosing_sessions",
        P.PATIENT_VIEW_CLINICAL,
        args=no_args,
        audit="patient.list",
        names_patient=False,
    ),
    Page("session-new-get", "get", "dosing_session_new", P.SCHEDULE_MANAGE, args=no_args),
    Page(
        "session",
        "get",
        "dosing_session",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.scheduled.pk],
        audit="patient.view",
    ),
    Page(
        "note",
        "get",
        "dosing_note",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.monitoring.pk],
        audit="patient.view",
        audited_patient=patient_of("monitoring"),
    ),
    Page(
        "note-pdf",
        "get",
        "dosing_note_pdf",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.monitoring.pk],
        audit="patient.export",
        audited_patient=patient_of("monitoring"),
    ),
    Page(
        "check-in",
        "post",
        "dosing_step",
        P.DOSING_RECORD,
        args=lambda w: [w.scheduled.pk, "status"],
        data={"status": "checked_in"},
        audit="dosing.session.status",
        state=status_of("scheduled"),
        redirects_to="dosing_session",
    ),
    Page(
        "pre-dose",
        "post",
        "dosing_step",
        P.DOSING_RECORD,
        args=lambda w: [w.checked_in.pk, "pre-dose"],
        data={"escort_confirmed": "on", "gad7_total": "6", **NORMAL},
        audit="dosing.predose.record",
        state=checks_of("checked_in"),
        redirects_to="dosing_session",
    ),
    Page(
        "vitals",
        "post",
        "dosing_step",
        P.DOSING_RECORD,
        args=lambda w: [w.monitoring.pk, "vitals"],
        data={"heart_rate": "76", "spo2": "97"},
        audit="dosing.vitals.record",
        state=readings_of("monitoring"),
        redirects_to="dosing_session",
        audited_patient=patient_of("monitoring"),
    ),
    Page(
        "discharge",
        "post",
        "dosing_step",
        P.DOSING_RECORD,
        args=lambda w: [w.monitoring.pk, "discharge"],
        data={
            "escort_present": "on",
            "instructions_acknowledged": "on",
            **{f"aldrete_{k}": str(v) for k, v in FULL_ALDRETE.items()},
        },
        audit="dosing.session.discharge",
        state=status_of("monitoring"),
        redirects_to="dosing_session",
        audited_patient=patient_of("monitoring"),
    ),
    Page(
        "alert-acknowledge",
        "post",
        "dosing_alert_acknowledge",
        P.DOSING_RECORD,
        args=lambda w: [w.done.pk, w.alert.pk],
        data={"action_taken": "Rechecked after oxygen"},
        audit="dosing.alert.acknowledge",
        state=acknowledged,
        redirects_to="dosing_session",
        audited_patient=patient_of("done"),
    ),
    Page(
        "board",
        "get",
        "dosing_board",
        P.DOSING_RECORD,
        args=no_args,
        audit="patient.list",
        names_patient=False,
    ),
    Page(
        "board-rows",
        "get",
        "dosing_board_rows",
        P.DOSING_RECORD,
        args=no_args,
        audit="patient.list",
        names_patient=False,
    ),
]


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_access_follows_role_map(page, role, world, client_for):
    check_page_access(page, role, world, client_for)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_declares_the_tables_permission(page, world):
    check_declared_permission(page, world)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_anonymous_is_sent_to_login(page, world, client):
    check_anonymous_is_sent_to_login(page, world, client)
