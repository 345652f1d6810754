"""The schedule's pages against every role."""

from dataclasses import dataclass
from datetime import date

import pytest

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.core.models import Room
from kapstone.patients.models import Patient
from kapstone.scheduling import actions
from kapstone.scheduling.models import Appointment, FeedToken, RetreatRun, StaffHours
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    count_of,
    no_args,
)
from tests.integration.scheduling_world import (
    acls,
    book,
    every_day,
    found_retreat,
    rooms,
    sign_plan_for,
)


@dataclass
class World:
    patient: Patient
    appointment: Appointment
    room: Room
    run: RetreatRun
    found: RetreatRun
    hours: StaffHours


@pytest.fixture
def world(make_patient, clinician, make_staff, clinic):
    _org, site = clinic
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    plan = sign_plan_for(patient, clinician, make_staff)
    dosing_room, therapy_room = rooms(site)
    booked = book(
        by=clinician,
        patient=patient,
        plan=plan,
        site=site,
        dosing_room=dosing_room,
        integration_room=therapy_room,
        dosing_staff=acls(clinician, clinician),
        integration_staff=clinician,
    )
    run = actions.request_retreat(
        by=clinician, site=site, patients=[patient], start=date(2030, 3, 4), days=5
    )
    hours = every_day(clinician, site)
    make_staff(Role.THERAPIST, username="hours-therapist")
    found = found_retreat(
        by=clinician,
        site=site,
        patient=patient,
        start=date(2030, 9, 2),
        dosing_room=dosing_room,
        therapy_room=therapy_room,
        clinician=clinician,
    )
    return World(
        patient=patient,
        appointment=booked[0],
        room=dosing_room,
        run=run,
        found=found,
        hours=hours,
    )


def start_of(w):
    return Appointment.objects.get(pk=w.appointment.pk).start


def status_of(w):
    return Appointment.objects.get(pk=w.appointment.pk).status


def appointment_args(w):
    return [w.appointment.pk]


GENERATE = {
    "starts_on": "2030-06-03",
    "weekdays": ["0"],
    "dosing_time": "09:00",
    "dosing_minutes": "120",
    "integration_time": "14:00",
    "integration_minutes": "60",
}

PAGES = [
    Page(
        "schedule-calendar",
        "get",
        "schedule_calendar",
        P.SCHEDULE_VIEW,
        args=no_args,
        query="day=2030-03-04",
        audit="patient.list",
    ),
    Page("schedule-patient", "get", "schedule_patient", P.SCHEDULE_VIEW, audit="patient.view"),
    Page(
        "schedule-generate",
        "post",
        "schedule_generate",
        P.SCHEDULE_MANAGE,
        data=GENERATE,
        audit="schedule.series.create",
        # test_scheduling_dosing checks the whole trail.
        also_audited=("dosing.session.create",),
        state=count_of(Appointment),
        redirects_to="schedule_patient",
    ),
    Page(
        "schedule-appointment",
        "get",
        "schedule_appointment",
        P.SCHEDULE_MANAGE,
        args=appointment_args,
        audit="patient.view",
    ),
    Page(
        "schedule-move",
        "post",
        "schedule_move",
        P.SCHEDULE_MANAGE,
        args=appointment_args,
        data={"move-new_start": "2030-03-04T10:00"},
        audit="schedule.appointment.move",
        also_audited=("dosing.session.reschedule",),
        state=start_of,
        redirects_to="schedule_patient",
    ),
    Page(
        "schedule-shift",
        "post",
        "schedule_shift",
        P.SCHEDULE_MANAGE,
        args=appointment_args,
        data={"shift-new_start": "2030-03-05T09:00"},
        audit="schedule.series.shift",
        also_audited=("dosing.session.reschedule",),
        state=start_of,
        redirects_to="schedule_patient",
    ),
    Page(
        "schedule-cancel",
        "post",
        "schedule_cancel",
        P.SCHEDULE_MANAGE,
        args=appointment_args,
        audit="schedule.appointment.cancel",
        also_audited=("dosing.session.status",),
        state=status_of,
        redirects_to="schedule_patient",
    ),
    Page(
        "retreat-new-get",
        "get",
        "retreat_new",
        P.SCHEDULE_MANAGE,
        args=no_args,
        audit="patient.list",
    ),
    Page(
        "retreat-result",
        "get",
        "retreat_result",
        P.SCHEDULE_MANAGE,
        args=lambda w: [w.run.pk],
        audit="patient.list",
    ),
    Page(
        "retreat-book",
        "post",
        "retreat_book",
        P.SCHEDULE_MANAGE,
        args=lambda w: [w.found.pk],
        audit="schedule.retreat.book",
        # Each patient's series and dosing sessions: test_scheduling_dosing checks them.
        also_audited=("schedule.series.create", "dosing.session.create"),
        names_patient=False,
        state=lambda w: RetreatRun.objects.get(pk=w.found.pk).booked_at,
        redirects_to="retreat_result",
    ),
    Page("staff-hours", "get", "schedule_staff_hours", P.SCHEDULE_VIEW, args=no_args),
    Page(
        "staff-hours-add",
        "post",
        "schedule_staff_hours_add",
        P.SCHEDULE_MANAGE,
        args=no_args,
        data={
            "staff": "hours-therapist",
            "site": "main",
            "weekday": "2",
            "start": "09:00",
            "end": "12:00",
        },
        audit="schedule.staff_hours.add",
        names_patient=False,
        state=lambda w: StaffHours.objects.count(),
        redirects_to="schedule_staff_hours",
    ),
    Page(
        "staff-hours-remove",
        "post",
        "schedule_staff_hours_remove",
        P.SCHEDULE_MANAGE,
        args=lambda w: [w.hours.pk],
        audit="schedule.staff_hours.remove",
        names_patient=False,
        state=lambda w: StaffHours.objects.filter(pk=w.hours.pk).exists(),
        redirects_to="schedule_staff_hours",
    ),
    Page("schedule-feed-link", "get", "schedule_feed_link", P.SCHEDULE_VIEW, args=no_args),
    Page(
        "schedule-feed-rotate",
        "post",
        "schedule_feed_link",
        P.SCHEDULE_VIEW,
        args=no_args,
        audit="schedule.feed.rotate",
        names_patient=False,
        state=lambda w: FeedToken.objects.count(),
        redirects_to="schedule_feed_link",
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
