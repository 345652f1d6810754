"""Entering questionnaires, urgent alerts and the dashboard, against every role."""

from dataclasses import dataclass

import pytest

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, RiskAlert
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    count_of,
    no_args,
)

GAD7 = {"q1": "2", "q2": "2", "q3": "1", "q4": "1", "q5": "1", "q6": "1", "q7": "1"}


@dataclass
class World:
    patient: Patient
    alert: RiskAlert


@pytest.fixture
def world(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    assessment = actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="phq9",
        answers={f"q{i}": 1 for i in range(1, 10)},
    )
    return World(patient=patient, alert=assessment.alerts.get())


PAGES = [
    Page("assessment-pick", "get", "assessment_pick", P.ASSESSMENT_RECORD, audit="patient.view"),
    Page(
        "assessment-new-get",
        "get",
        "assessment_new",
        P.ASSESSMENT_RECORD,
        args=lambda w: [w.patient.pk, "gad7"],
        audit="patient.view",
    ),
    Page(
        "assessment-new-post",
        "post",
        "assessment_new",
        P.ASSESSMENT_RECORD,
        args=lambda w: [w.patient.pk, "gad7"],
        data={**GAD7, "answered_at": "2026-11-20T09:30", "timepoint": "baseline"},
        audit="assessment.create",
        state=count_of(Assessment),
    ),
    Page(
        "alert-list", "get", "alert_list", P.ALERT_ACKNOWLEDGE, args=no_args, audit="patient.list"
    ),
    Page(
        "alert-detail",
        "get",
        "alert_detail",
        P.ALERT_ACKNOWLEDGE,
        args=lambda w: [w.alert.pk],
        audit="patient.view",
    ),
    Page(
        "alert-acknowledge",
        "post",
        "alert_detail",
        P.ALERT_ACKNOWLEDGE,
        args=lambda w: [w.alert.pk],
        data={"action": "contacted", "action_note": ""},
        audit="alert.acknowledge",
        state=lambda w: RiskAlert.objects.get(pk=w.alert.pk).status,
        redirects_to="alert_list",
    ),
    Page(
        "dashboard", "get", "dashboard", P.PATIENT_VIEW_CLINICAL, args=no_args, audit="patient.list"
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
