"""Check-in staff pages against every role (the patient's pages are public: see
test_checkins.py). The checks live in tests/integration/access.py."""

from dataclasses import dataclass

import pytest
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.assessments.models import CheckIn, CheckInSchedule
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
    checkin: CheckIn
    schedule: CheckInSchedule


@pytest.fixture
def world(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient", email="a@example.com")
    checkin, _token = actions.send_checkin(
        by=clinician, patient=patient, instruments=["gad7"], email=False
    )
    schedule = actions.create_schedule(
        by=clinician, patient=patient, kind="after_dosing", offset_hours=24, instruments=["gad7"]
    )
    return World(patient=patient, checkin=checkin, schedule=schedule)


def _checkin_args(w) -> list:
    return [w.patient.pk, w.checkin.pk]


PAGES = [
    Page("checkin-list", "get", "checkin_list", P.CHECKIN_SEND, audit="patient.view"),
    Page("checkin-send-get", "get", "checkin_send", P.CHECKIN_SEND, audit="patient.view"),
    Page(
        "checkin-send-post",
        "post",
        "checkin_send",
        P.CHECKIN_SEND,
        data={"instruments": ["gad7", "phq9"], "timepoint": "other"},
        audit="checkin.send",
        state=count_of(CheckIn),
        redirects_to="checkin_link",
    ),
    Page(
        "checkin-link",
        "get",
        "checkin_link",
        P.CHECKIN_SEND,
        args=_checkin_args,
        audit="checkin.show_link",
    ),
    Page(
        "checkin-cancel",
        "post",
        "checkin_cancel",
        P.CHECKIN_SEND,
        args=_checkin_args,
        audit="checkin.cancel",
        state=lambda w: CheckIn.objects.get(pk=w.checkin.pk).status,
        redirects_to="checkin_list",
    ),
    Page("schedule-new-get", "get", "schedule_new", P.CHECKIN_SEND, audit="patient.view"),
    Page(
        "schedule-new-post",
        "post",
        "schedule_new",
        P.CHECKIN_SEND,
        data={
            "plan": "custom",
            "kind": "weekly",
            "instruments": ["phq9"],
            "starts_on": timezone.localdate().isoformat(),
        },
        audit="checkin.schedule_create",
        state=count_of(CheckInSchedule),
        redirects_to="checkin_list",
    ),
    Page(
        "schedule-end",
        "post",
        "schedule_end",
        P.CHECKIN_SEND,
        args=lambda w: [w.patient.pk, w.schedule.pk],
        audit="checkin.schedule_end",
        state=lambda w: CheckInSchedule.objects.get(pk=w.schedule.pk).ended_at,
        redirects_to="checkin_list",
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
