"""Integration sessions and process-note pages against every role.

Process-note privacy (author, grantee, everyone else) is in test_integration_sessions.py:
here the signed-in person is never a note's author or grantee.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.integration import actions
from kapstone.integration.models import (
    IntegrationSession,
    PracticeAssignment,
    PracticeLink,
    PracticeLog,
    ProcessNote,
)
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    count_of,
)


@dataclass
class World:
    patient: Patient
    session: IntegrationSession
    assignment: PracticeAssignment
    practice_link: PracticeLink


@pytest.fixture
def world(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    session = actions.record_integration_session(
        by=clinician,
        patient=patient,
        modality="emdr",
        started_at=timezone.now() - timedelta(days=1),
        minutes=50,
        details={"phase": 4, "sud_before": 7, "sud_after": 3},
    )
    actions.write_process_note(by=clinician, session=session, text="Worked the target.")
    assignment = actions.assign_practice(by=clinician, patient=patient, practice="breathing")
    practice_link, _token = actions.issue_practice_link(by=clinician, patient=patient)
    return World(
        patient=patient, session=session, assignment=assignment, practice_link=practice_link
    )


def session_args(w):
    return [w.patient.pk, w.session.pk]


PAGES = [
    Page(
        "integration-history",
        "get",
        "integration_history",
        P.PATIENT_VIEW_CLINICAL,
        audit="patient.view",
    ),
    Page("integration-pick", "get", "integration_pick", P.INTEGRATION_RECORD, audit="patient.view"),
    Page(
        "integration-new-get",
        "get",
        "integration_new",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, "emdr"],
        audit="patient.view",
    ),
    Page(
        "integration-new-post",
        "post",
        "integration_new",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, "somatic"],
        data={
            "started_at": "2026-11-20T09:30",
            "minutes": "50",
            "technique": "breathwork",
            "practice_minutes": "12",
        },
        audit="integration.create",
        state=count_of(IntegrationSession),
        redirects_to="integration_session",
    ),
    Page(
        "integration-session",
        "get",
        "integration_session",
        P.PATIENT_VIEW_CLINICAL,
        args=session_args,
        audit="patient.view",
    ),
    Page(
        "process-note-new-get",
        "get",
        "process_note_new",
        P.INTEGRATION_RECORD,
        args=session_args,
        audit="patient.view",
    ),
    Page(
        "process-note-new-post",
        "post",
        "process_note_new",
        P.INTEGRATION_RECORD,
        args=session_args,
        data={"text": "Noticed the shift after the third set."},
        audit="process_note.create",
        state=lambda w: ProcessNote.objects.filter(session=w.session).count(),
        redirects_to="integration_session",
    ),
    Page(
        "process-note-access",
        "get",
        "process_note_access",
        P.INTEGRATION_RECORD,
        args=session_args,
        audit="patient.view",
    ),
    Page("practice-home", "get", "practice_home", P.PATIENT_VIEW_CLINICAL, audit="patient.view"),
    Page(
        "practice-assign-get", "get", "practice_assign", P.INTEGRATION_RECORD, audit="patient.view"
    ),
    Page(
        "practice-assign-post",
        "post",
        "practice_assign",
        P.INTEGRATION_RECORD,
        data={"practice": "mindfulness", "frequency": "daily"},
        audit="practice.assign",
        state=count_of(PracticeAssignment),
        redirects_to="practice_home",
    ),
    Page(
        "practice-end",
        "post",
        "practice_end",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, w.assignment.pk],
        audit="practice.end",
        state=lambda w: PracticeAssignment.objects.get(pk=w.assignment.pk).active,
        redirects_to="practice_home",
    ),
    Page(
        "practice-log-get",
        "get",
        "practice_log",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, w.assignment.pk],
        audit="patient.view",
    ),
    Page(
        "practice-log-post",
        "post",
        "practice_log",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, w.assignment.pk],
        data={"done_on": "", "minutes": "10"},
        audit="practice.log",
        state=lambda w: PracticeLog.objects.filter(assignment=w.assignment).count(),
        redirects_to="practice_home",
    ),
    Page(
        "practice-link-issue",
        "post",
        "practice_link_issue",
        P.INTEGRATION_RECORD,
        audit="practice_link.issue",
        state=count_of(PracticeLink),
        redirects_to="practice_link_show",
    ),
    Page(
        "practice-link-show",
        "get",
        "practice_link_show",
        P.INTEGRATION_RECORD,
        args=lambda w: [w.patient.pk, w.practice_link.pk],
        audit="practice_link.show",
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
