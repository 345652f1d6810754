"""The schedule and the dosing list in step: a series makes its dosing sessions, moving,
shifting and cancelling carry them along; booking a retreat's schedule; the staff hours page;
the clinic's integration window and spacing."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.core.models import Organization
from kapstone.dosing import actions as dosing_actions
from kapstone.dosing.models import DosingSession, StatusChange
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.scheduling import actions, tasks
from kapstone.scheduling.models import Appointment, StaffHours
from tests.integration.scheduling_world import (
    FIRST_MONDAY,
    acls,
    book,
    booked,
    every_day,
    found_retreat,
    one_patient_world,
    sign_plan_for,
)

ZONE = ZoneInfo("America/New_York")


def local(moment):
    return moment.astimezone(ZONE).replace(tzinfo=None)


@pytest.fixture
def setting(make_patient, clinician, make_staff, clinic):
    return one_patient_world(make_patient, clinician, make_staff, clinic)


def fresh(row):
    return type(row).objects.get(pk=row.pk)


def clinic_settings(values):
    org = Organization.current()
    org.settings_overrides = values
    org.save(update_fields=["settings_overrides"])


# A series makes its dosing sessions


def test_each_dosing_appointment_owns_a_scheduled_dosing_session(setting, clinician):
    # Act
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))

    # Assert
    dosings = [a for a in made if a.kind == "dosing"]
    integrations = [a for a in made if a.kind == "integration"]
    assert DosingSession.objects.count() == len(dosings) == 6
    for appointment in dosings:
        session = appointment.dosing_session
        assert session.status == "scheduled"
        assert session.scheduled_start == appointment.start
        assert (session.patient, session.site, session.room) == (
            setting["patient"],
            setting["site"],
            setting["dosing_room"],
        )
        # The dosing clinician is a prescriber: they are the session's prescriber.
        assert session.prescriber == clinician
    assert {a.dosing_session_id for a in integrations} == {None}


def test_without_a_prescriber_in_the_room_the_plans_signer_is_named(setting, clinician):
    # Arrange
    nurse = acls(setting["make_staff"](Role.NURSE), clinician)

    # Act
    made = booked(setting, clinician, dosing_staff=nurse)

    # Assert
    prescribers = {a.dosing_session.prescriber for a in made if a.kind == "dosing"}
    assert prescribers == {setting["plan"].signed_by}
    assert nurse not in prescribers


def test_front_desk_books_a_series_and_its_dosing_sessions(setting, clinician, make_staff):
    # Arrange
    front_desk = make_staff(Role.FRONT_DESK)

    # Act
    made = booked(setting, front_desk, dosing_staff=acls(clinician, clinician))

    # Assert
    assert DosingSession.objects.filter(created_by=front_desk).count() == 6
    assert len(made) == 12


def test_a_failed_booking_leaves_no_dosing_session(setting, clinician):
    # Arrange: the first series takes the patient's Mondays.
    booked(setting, clinician, dosing_staff=acls(clinician, clinician))

    # Act
    with pytest.raises(InvalidInputs):
        booked(setting, clinician, starts_on=FIRST_MONDAY + timedelta(weeks=1))

    # Assert
    assert DosingSession.objects.count() == 6


def test_the_trail_names_each_dosing_session_and_the_series(setting, clinician, client_for):
    # Arrange
    client = client_for(Role.FRONT_DESK)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    # Act
    response = client.post(
        reverse("schedule_generate", args=[setting["patient"].pk]),
        {
            "starts_on": "2030-06-03",
            "weekdays": ["0"],
            "dosing_time": "09:00",
            "dosing_minutes": "120",
            "integration_time": "14:00",
            "integration_minutes": "60",
        },
    )

    # Assert
    assert response.status_code == 302
    events = AuditEvent.objects.filter(seq__gt=before).order_by("seq")
    assert [(e.action, e.patient_id) for e in events] == [
        *[("dosing.session.create", setting["patient"].pk)] * 6,
        ("schedule.series.create", setting["patient"].pk),
    ]


# Moving, shifting and cancelling keep them in step


def test_moving_a_dosing_appointment_moves_its_session(setting, clinician):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    second = made[2]
    new_start = datetime.combine(FIRST_MONDAY + timedelta(weeks=1), time(10))

    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    # Act
    actions.move_occurrence(by=clinician, appointment=second, new_start=new_start)

    # Assert
    assert local(fresh(second.dosing_session).scheduled_start) == new_start
    others = [a for a in made if a.kind == "dosing" and a.pk != second.pk]
    assert all(fresh(a.dosing_session).scheduled_start == a.start for a in others)
    trail = AuditEvent.objects.filter(seq__gt=before).order_by("seq")
    assert [(e.action, e.patient_id) for e in trail] == [
        ("dosing.session.reschedule", second.patient_id),
        ("schedule.appointment.move", second.patient_id),
    ]


def test_shifting_the_series_moves_every_later_session(setting, clinician):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    dosings = [a for a in made if a.kind == "dosing"]

    # Act
    actions.shift_series(
        by=clinician,
        appointment=dosings[3],
        new_start=datetime.combine(FIRST_MONDAY + timedelta(weeks=3, days=1), time(9)),
    )

    # Assert
    for number, appointment in enumerate(dosings):
        session = fresh(appointment.dosing_session)
        assert session.scheduled_start == fresh(appointment).start
        assert (local(session.scheduled_start) - local(appointment.start)).days == (
            1 if number >= 3 else 0
        )


@pytest.mark.parametrize("edit", ["move", "shift"])
def test_a_checked_in_session_cannot_be_moved(setting, clinician, edit):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    dosing_actions.change_status(by=clinician, session=made[2].dosing_session, status="checked_in")
    before = [(a.start, fresh(a.dosing_session).scheduled_start) for a in made[::2]]
    new_start = datetime.combine(FIRST_MONDAY + timedelta(weeks=1), time(10))
    change = actions.move_occurrence if edit == "move" else actions.shift_series

    # Act
    with pytest.raises(InvalidInputs) as raised:
        if edit == "move":
            change(by=clinician, appointment=made[2], new_start=new_start)
        else:
            change(by=clinician, appointment=made[0], new_start=new_start - timedelta(weeks=1))

    # Assert
    assert [e.field for e in raised.value.errors] == ["new_start"]
    assert "checked in" in raised.value.errors[0].message
    after = [(fresh(a).start, fresh(a.dosing_session).scheduled_start) for a in made[::2]]
    assert after == before


def test_cancelling_cancels_the_session_through_its_lifecycle(setting, clinician, make_staff):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    front_desk = make_staff(Role.FRONT_DESK)
    session = made[2].dosing_session

    # Act
    actions.cancel(by=front_desk, appointment=made[3])

    # Assert
    assert fresh(session).status == "cancelled"
    (change,) = StatusChange.objects.filter(session=session)
    assert (change.from_status, change.to_status, change.by) == (
        "scheduled",
        "cancelled",
        front_desk,
    )
    assert change.reason == actions.CANCEL_REASON
    events = AuditEvent.objects.order_by("-seq")[:2]
    assert [e.action for e in reversed(events)] == [
        "dosing.session.status",
        "schedule.appointment.cancel",
    ]
    others = DosingSession.objects.exclude(pk=session.pk)
    assert set(others.values_list("status", flat=True)) == {"scheduled"}


def test_a_session_the_nurses_cancelled_stays_cancelled_when_the_appointment_is(setting, clinician):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    session = made[0].dosing_session
    dosing_actions.change_status(by=clinician, session=session, status="cancelled")

    # Act
    cancelled = actions.cancel(by=clinician, appointment=made[0])

    # Assert
    assert len(cancelled) == 2
    assert StatusChange.objects.filter(session=session).count() == 1


def test_a_checked_in_session_cannot_be_cancelled_from_the_schedule(setting, clinician, client_for):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    session = made[0].dosing_session
    dosing_actions.change_status(by=clinician, session=session, status="checked_in")

    # Act
    response = client_for(Role.FRONT_DESK).post(
        reverse("schedule_cancel", args=[made[0].pk]), follow=True
    )

    # Assert
    assert "Nothing was saved" in response.content.decode()
    assert "checked in" in response.content.decode()
    assert fresh(made[0]).status == fresh(made[1]).status == "booked"
    assert fresh(session).status == "checked_in"


@pytest.mark.parametrize("status", ["checked_in", "held"])
def test_the_cancel_action_for_the_schedule_takes_only_scheduled_sessions(
    setting, clinician, status
):
    # Arrange
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))
    session = made[0].dosing_session
    dosing_actions.change_status(by=clinician, session=session, status=status, reason="why")

    # Act
    with pytest.raises(InvalidInput) as raised:
        dosing_actions.cancel_scheduled_session(by=clinician, session=session, reason="x")

    # Assert
    assert raised.value.field == "status"
    assert fresh(session).status == status


def test_the_cancel_action_for_the_schedule_needs_schedule_manage(setting, clinician, make_staff):
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))

    with pytest.raises(AccessDenied):
        dosing_actions.cancel_scheduled_session(
            by=make_staff(Role.THERAPIST), session=made[0].dosing_session, reason="x"
        )


# Front desk schedules a single dosing session


@pytest.mark.parametrize(
    ("role", "goes_to"), [(Role.FRONT_DESK, "schedule_patient"), (Role.NURSE, "dosing_session")]
)
def test_scheduling_a_session_goes_where_the_user_may_look(
    setting, clinician, client_for, role, goes_to
):
    # Arrange
    client = client_for(role)

    # Act
    response = client.post(
        reverse("dosing_session_new"),
        {
            "record_number": setting["patient"].record_number,
            "site": setting["site"].pk,
            "scheduled_start": "2030-05-06T09:00",
            "prescriber": clinician.pk,
        },
    )

    # Assert
    assert response.status_code == 302
    session = DosingSession.objects.get()
    expected = session.patient_id if goes_to == "schedule_patient" else session.pk
    assert response["Location"] == reverse(goes_to, args=[expected])


# Booking a retreat's schedule


@pytest.fixture
def retreat(setting, clinician):
    acls(clinician, clinician)
    every_day(clinician, setting["site"])
    run = found_retreat(
        by=clinician,
        site=setting["site"],
        patient=setting["patient"],
        start=date(2030, 9, 2),
        dosing_room=setting["dosing_room"],
        therapy_room=setting["therapy_room"],
        clinician=clinician,
    )
    return run


def test_booking_a_retreat_books_every_session_and_its_dosing_session(
    setting, clinician, retreat, make_staff
):
    # Arrange
    front_desk = make_staff(Role.FRONT_DESK)

    # Act
    made = actions.book_retreat(by=front_desk, run=retreat)

    # Assert
    assert len(made) == 12
    assert {a.retreat_id for a in made} == {retreat.pk}
    assert len({a.series_id for a in made}) == 1
    stored = sorted((s["kind"], s["index"], s["start"]) for s in retreat.result["sessions"])
    assert sorted((a.kind, a.index, local(a.start).isoformat()) for a in made) == stored
    dosings = [a for a in made if a.kind == "dosing"]
    assert [a.dosing_session.scheduled_start for a in dosings] == [a.start for a in dosings]
    assert {a.dosing_session.prescriber for a in dosings} == {clinician}
    retreat.refresh_from_db()
    assert retreat.booked and retreat.booked_by == front_desk
    actions_written = list(
        AuditEvent.objects.filter(action__startswith="schedule.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions_written[-2:] == ["schedule.series.create", "schedule.retreat.book"]


def test_a_retreat_is_booked_once(setting, clinician, retreat):
    # Arrange
    actions.book_retreat(by=clinician, run=retreat)

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.book_retreat(by=clinician, run=retreat)

    # Assert
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("run", "has already been booked")
    ]
    assert Appointment.objects.filter(retreat=retreat).count() == 12
    assert DosingSession.objects.count() == 6


def test_a_retreat_clashing_with_a_booking_is_refused_naming_the_session(
    setting, clinician, retreat
):
    # Arrange: another patient already has the dosing room on the retreat's third morning.
    other = setting["make_patient"](first_name="Sam", last_name="Otherpatient")
    plan = sign_plan_for(other, clinician, setting["make_staff"])
    book(
        by=clinician,
        patient=other,
        plan=plan,
        site=setting["site"],
        starts_on=date(2030, 9, 4),
        weekdays=(2,),
        dosing_room=setting["dosing_room"],
    )
    before = Appointment.objects.count(), DosingSession.objects.count()

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.book_retreat(by=clinician, run=retreat)

    # Assert
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("schedule", "dosing session 2 at Wed 04 Sep 08:00 overlaps another booking of the same room"),
    ]  # fmt: skip
    assert (Appointment.objects.count(), DosingSession.objects.count()) == before
    assert not fresh(retreat).booked


def test_a_schedule_that_no_longer_holds_is_refused_naming_the_rule(setting, clinician, retreat):
    # Arrange: the clinician no longer works Wednesdays.
    StaffHours.objects.filter(staff=clinician, weekday=2).delete()

    # Act
    with pytest.raises(InvalidInputs) as raised:
        actions.book_retreat(by=clinician, run=retreat)

    # Assert
    staff = [e.message for e in raised.value.errors if e.field == "staff"]
    assert staff and all("is not working then" in message for message in staff)
    assert not Appointment.objects.filter(retreat=retreat).exists()


def test_a_run_without_a_schedule_cannot_be_booked(setting, clinician):
    run = actions.request_retreat(
        by=clinician, site=setting["site"], patients=[setting["patient"]],
        start=date(2030, 9, 2), days=5,
    )  # fmt: skip

    with pytest.raises(InvalidInputs) as raised:
        actions.book_retreat(by=clinician, run=run)

    assert [e.field for e in raised.value.errors] == ["run"]


def test_the_optimizers_schedule_books(setting, clinician, make_staff):
    # Arrange
    nurse = acls(make_staff(Role.NURSE), clinician)
    therapist = make_staff(Role.THERAPIST)
    for person in (nurse, therapist):
        every_day(person, setting["site"])
    run = actions.request_retreat(
        by=clinician, site=setting["site"], patients=[setting["patient"]],
        start=date(2030, 6, 3), days=14,
    )  # fmt: skip
    tasks.run_retreat(run.pk)

    # Act
    made = actions.book_retreat(by=clinician, run=run)

    # Assert
    assert sorted(a.kind for a in made) == ["dosing"] * 6 + ["integration"] * 6
    assert {a.dosing_session.prescriber for a in made if a.kind == "dosing"} == {
        setting["plan"].signed_by
    }


def test_the_result_page_books_and_then_says_so(setting, clinician, retreat, client_for):
    # Arrange
    client = client_for(Role.NURSE)
    page = client.get(reverse("retreat_result", args=[retreat.pk]))

    # Act
    response = client.post(reverse("retreat_book", args=[retreat.pk]), follow=True)
    again = client.post(reverse("retreat_book", args=[retreat.pk]))

    # Assert
    assert "Book this schedule" in page.content.decode()
    assert "Retreat booked: 12 sessions." in response.content.decode()
    assert "Book this schedule" not in response.content.decode()
    assert again.status_code == 422
    assert "has already been booked" in again.content.decode()


# Staff hours


def test_the_staff_hours_page_adds_lists_and_removes(setting, client_for, make_staff):
    # Arrange
    therapist = make_staff(Role.THERAPIST, username="sam-therapist")
    client = client_for(Role.FRONT_DESK)

    # Act
    added = client.post(
        reverse("schedule_staff_hours_add"),
        {"staff": "sam-therapist", "site": "main", "weekday": "1", "start": "09:00",
         "end": "13:00"},
    )  # fmt: skip
    listed = client.get(reverse("schedule_staff_hours")).content.decode()
    hours = StaffHours.objects.get(staff=therapist)
    removed = client.post(reverse("schedule_staff_hours_remove", args=[hours.pk]))

    # Assert
    assert added.status_code == removed.status_code == 302
    assert (hours.weekday, hours.start, hours.end) == (1, time(9), time(13))
    assert "Tuesday" in listed and "09:00–13:00" in listed
    assert not StaffHours.objects.exists()
    trail = AuditEvent.objects.filter(action__startswith="schedule.staff").order_by("seq")
    assert [e.action for e in trail] == [
        "schedule.staff_hours.add",
        "schedule.staff_hours.remove",
    ]


@pytest.mark.parametrize(
    ("start", "end", "field", "rule"),
    [
        ("12:00", "15:00", "start", "overlaps hours already set"),
        ("08:00", "09:30", "start", "overlaps hours already set"),
        ("15:00", "14:00", "end", "must be after the start"),
    ],
)
def test_bad_hours_are_refused_with_422_naming_the_field(
    setting, client_for, make_staff, start, end, field, rule
):
    # Arrange
    therapist = make_staff(Role.THERAPIST, username="sam-therapist")
    StaffHours.objects.create(
        staff=therapist, site=setting["site"], weekday=1, start=time(9), end=time(13)
    )

    # Act
    response = client_for(Role.FRONT_DESK).post(
        reverse("schedule_staff_hours_add"),
        {"staff": "sam-therapist", "site": "main", "weekday": "1", "start": start, "end": end},
    )

    # Assert
    assert response.status_code == 422
    assert rule in response.content.decode()
    assert response.context["form"].errors.get(field)
    assert StaffHours.objects.count() == 1


def test_viewers_see_hours_without_the_form_and_cannot_add(setting, client_for):
    # Act
    page = client_for(Role.THERAPIST).get(reverse("schedule_staff_hours"))

    # Assert
    assert page.status_code == 200
    assert "Add hours" not in page.content.decode()


def test_the_calendar_links_to_staff_hours(setting, client_for):
    page = client_for(Role.THERAPIST).get(reverse("schedule_calendar"))

    assert reverse("schedule_staff_hours") in page.content.decode()


# The clinic's integration window and spacing


def test_the_clinics_window_places_the_integration_sessions(setting, clinician):
    # Arrange: integration at least 48 hours after dosing.
    clinic_settings({"scheduling": {"integration_window": {"min_hours": 48}}})

    # Act
    made = booked(setting, clinician)

    # Assert
    for dosing, integration in zip(made[0::2], made[1::2], strict=True):
        assert integration.start - dosing.start >= timedelta(hours=48)


def test_the_clinics_spacing_refuses_a_series_too_close(setting, clinician):
    # Arrange: two dosing sessions a week, Monday and Wednesday, 48 hours apart.
    clinic_settings({"scheduling": {"dosing_spacing": {"min_hours": 72}}})

    plan = setting["plan"]
    plan.sessions_per_week = Decimal(2)
    plan.save(update_fields=["sessions_per_week"])

    # Act
    with pytest.raises(InvalidInputs) as raised:
        booked(setting, clinician, weekdays=(0, 2))

    # Assert
    assert [e.field for e in raised.value.errors] == ["weekdays"]
    assert "72" in raised.value.errors[0].message
    assert not DosingSession.objects.exists()


def test_the_same_series_books_under_the_shipped_spacing(setting, clinician):
    # Arrange: the control for the test above.
    plan = setting["plan"]
    plan.sessions_per_week = Decimal(2)
    plan.save(update_fields=["sessions_per_week"])

    # Act
    made = booked(setting, clinician, weekdays=(0, 2))

    # Assert
    assert DosingSession.objects.count() == len(made) // 2 == 6


def test_the_clinics_window_applies_to_moves(setting, clinician):
    # Arrange
    made = booked(setting, clinician)
    clinic_settings({"scheduling": {"integration_window": {"max_hours": 26}}})

    # Act: the integration session moved to 30 hours after its dosing.
    with pytest.raises(InvalidInputs) as raised:
        actions.move_occurrence(
            by=clinician,
            appointment=made[1],
            new_start=datetime.combine(FIRST_MONDAY + timedelta(days=1), time(15)),
        )

    # Assert
    assert "integration_window" in [e.field for e in raised.value.errors]


def test_the_optimizer_reads_the_clinics_window(setting, clinician):
    # Arrange
    clinic_settings({"scheduling": {"integration_window": {"min_hours": 30}}})
    run = actions.request_retreat(
        by=clinician, site=setting["site"], patients=[setting["patient"]],
        start=date(2030, 6, 3), days=5,
    )  # fmt: skip

    # Act
    cohort = tasks.build_cohort(run)

    # Assert
    assert cohort.series_rules.integration_min_hours == 30


def test_a_bad_clinic_setting_is_refused_on_the_page_naming_the_key(setting, client_for):
    # Arrange
    clinic_settings({"scheduling": {"integration_window": {"min_hourz": 30}}})

    # Act
    response = client_for(Role.FRONT_DESK).post(
        reverse("schedule_generate", args=[setting["patient"].pk]),
        {
            "starts_on": "2030-06-03",
            "weekdays": ["0"],
            "dosing_time": "09:00",
            "dosing_minutes": "120",
            "integration_time": "14:00",
            "integration_minutes": "60",
        },
    )

    # Assert
    assert response.status_code == 422
    assert "scheduling.integration_window.min_hourz" in response.content.decode()
    assert not Appointment.objects.exists()
    assert not DosingSession.objects.exists()
