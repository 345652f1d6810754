"""Booking a series from the signed plan, moving one session or the rest, conflicts."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.errors import AccessDenied, InvalidInputs
from kapstone.scheduling import actions
from kapstone.scheduling.models import Appointment, FeedToken, StaffHours
from kapstone.treatment import actions as treatment_actions
from tests.integration.scheduling_world import (
    FIRST_MONDAY,
    acls,
    book,
    booked,
    one_patient_world,
    sign_plan_for,
)

ZONE = ZoneInfo("America/New_York")


def local(appointment):
    return appointment.start.astimezone(ZONE).replace(tzinfo=None)


@pytest.fixture
def setting(make_patient, clinician, make_staff, clinic):
    return one_patient_world(make_patient, clinician, make_staff, clinic)


def test_series_is_generated_from_the_signed_plan(setting, clinician):
    # Arrange
    before = AuditEvent.objects.count()

    # Act
    made = booked(setting, clinician, dosing_staff=acls(clinician, clinician))

    # Assert
    assert [a.kind for a in made] == ["dosing", "integration"] * 6
    assert [a.index for a in made] == [n for n in range(1, 7) for _ in (0, 1)]
    dosings, integrations = made[0::2], made[1::2]
    assert [local(a) for a in dosings] == [
        datetime.combine(FIRST_MONDAY + timedelta(weeks=n), time(9)) for n in range(6)
    ]
    for dosing, integration in zip(dosings, integrations, strict=True):
        gap = integration.start - dosing.start
        assert timedelta(hours=24) <= gap <= timedelta(hours=72)
    assert {a.route for a in dosings} == {"iv"}
    assert {a.modality for a in integrations} == {"act"}
    assert {a.staff_id for a in dosings} == {clinician.pk}
    assert {a.room_id for a in integrations} == {setting["therapy_room"].pk}
    assert len({a.series_id for a in made}) == 1
    events = list(AuditEvent.objects.order_by("seq")[before:])
    # One dosing session made (and audited) for each dosing appointment, then the series.
    assert [(e.action, e.patient_id) for e in events] == [
        *[("dosing.session.create", setting["patient"].pk)] * 6,
        ("schedule.series.create", setting["patient"].pk),
    ]


def test_a_plan_that_is_not_signed_is_refused(setting, clinician, make_staff):
    # Arrange
    prescriber = make_staff(Role.PRESCRIBER)
    draft = treatment_actions.revise_plan(by=prescriber, plan=setting["plan"])

    # Act
    with pytest.raises(InvalidInputs) as refused:
        book(by=clinician, patient=setting["patient"], plan=draft, site=setting["site"])

    # Assert
    assert [e.field for e in refused.value.errors] == ["plan"]
    assert not Appointment.objects.exists()


def test_only_schedule_managers_book(setting, make_staff):
    # Arrange
    therapist = make_staff(Role.THERAPIST)

    # Act / Assert
    with pytest.raises(AccessDenied):
        booked(setting, therapist)


def test_closed_days_and_opening_hours_come_from_staff_hours(setting, clinician):
    # Arrange: the site opens only on Tuesdays and Wednesdays, 10:00 to 16:00.
    for weekday in (1, 2):
        StaffHours.objects.create(
            staff=clinician, site=setting["site"], weekday=weekday, start=time(10), end=time(16)
        )

    # Act
    with pytest.raises(InvalidInputs) as refused:
        booked(setting, clinician)

    # Assert
    assert [e.field for e in refused.value.errors] == ["weekdays"]
    assert "closed on Mondays" in refused.value.errors[0].message


def test_move_one_changes_only_that_session(setting, clinician):
    # Arrange
    made = booked(setting, clinician)
    second = made[2]
    others = {a.pk: a.start for a in made if a.pk != second.pk}

    # Act
    actions.move_occurrence(
        by=clinician, appointment=second, new_start=local(second) + timedelta(hours=1)
    )

    # Assert
    assert Appointment.objects.get(pk=second.pk).start == second.start + timedelta(hours=1)
    assert {a.pk: a.start for a in Appointment.objects.exclude(pk=second.pk)} == others
    assert AuditEvent.objects.latest("seq").action == "schedule.appointment.move"


def test_shift_series_moves_that_session_and_every_later_one(setting, clinician):
    # Arrange
    made = booked(setting, clinician)
    second = made[2]

    # Act
    actions.shift_series(
        by=clinician, appointment=second, new_start=local(second) + timedelta(days=1)
    )

    # Assert
    after = {a.pk: a.start for a in Appointment.objects.all()}
    assert after[made[0].pk] == made[0].start
    assert after[made[1].pk] == made[1].start
    assert all(after[a.pk] == a.start + timedelta(days=1) for a in made[2:])
    assert AuditEvent.objects.latest("seq").action == "schedule.series.shift"


def test_a_move_breaking_the_integration_window_is_refused(setting, clinician):
    # Arrange
    made = booked(setting, clinician)
    integration = made[1]
    before = AuditEvent.objects.count()

    # Act: the integration session on the dosing day, inside 24 hours.
    with pytest.raises(InvalidInputs) as refused:
        actions.move_occurrence(
            by=clinician,
            appointment=integration,
            new_start=datetime.combine(FIRST_MONDAY, time(15)),
        )

    # Assert
    assert "integration_window" in [e.field for e in refused.value.errors]
    assert Appointment.objects.get(pk=integration.pk).start == integration.start
    assert AuditEvent.objects.count() == before


def test_a_second_series_overlapping_the_patient_is_refused(setting, clinician):
    # Arrange
    booked(setting, clinician)

    # Act
    with pytest.raises(InvalidInputs) as refused:
        book(by=clinician, patient=setting["patient"], plan=setting["plan"], site=setting["site"])

    # Assert
    assert {e.field for e in refused.value.errors} == {"patient"}
    assert Appointment.objects.count() == 12


@pytest.mark.parametrize("resource", ["room", "staff"])
def test_another_patients_series_double_booking_is_refused(
    setting, clinician, make_staff, resource
):
    # Arrange
    nurse = acls(make_staff(Role.NURSE), clinician)
    booked(setting, clinician, dosing_staff=nurse)
    other = setting["make_patient"](first_name="Blair", last_name="Otherpatient")
    other_plan = sign_plan_for(other, clinician, make_staff)
    clash = (
        {"dosing_room": setting["dosing_room"]} if resource == "room" else {"dosing_staff": nurse}
    )

    # Act
    with pytest.raises(InvalidInputs) as refused:
        book(by=clinician, patient=other, plan=other_plan, site=setting["site"], **clash)

    # Assert
    assert {e.field for e in refused.value.errors} == {resource}
    assert not Appointment.objects.filter(patient=other).exists()
    # The message names the session, never the other patient.
    assert all("Avery" not in str(e) and "Blair" not in str(e) for e in refused.value.errors)


def test_a_move_onto_another_patients_room_is_refused(setting, clinician, make_staff):
    # Arrange
    made = booked(setting, clinician)
    other = setting["make_patient"](first_name="Blair", last_name="Otherpatient")
    other_plan = sign_plan_for(other, clinician, make_staff)
    theirs = book(
        by=clinician,
        patient=other,
        plan=other_plan,
        site=setting["site"],
        dosing_time=time(12),
        dosing_room=setting["dosing_room"],
    )

    # Act
    with pytest.raises(InvalidInputs) as refused:
        actions.move_occurrence(by=clinician, appointment=made[0], new_start=local(theirs[0]))

    # Assert
    assert {e.field for e in refused.value.errors} == {"room"}
    assert Appointment.objects.get(pk=made[0].pk).start == made[0].start


def test_cancel_takes_the_pair_and_frees_the_time(setting, clinician):
    # Arrange
    made = booked(setting, clinician)

    # Act
    actions.cancel(by=clinician, appointment=made[2])

    # Assert
    cancelled = Appointment.objects.filter(status="cancelled")
    assert sorted(a.pk for a in cancelled) == [made[2].pk, made[3].pk]
    # The rest of the series can still be edited.
    actions.move_occurrence(
        by=clinician, appointment=made[4], new_start=local(made[4]) + timedelta(hours=1)
    )
    with pytest.raises(InvalidInputs):
        actions.cancel(by=clinician, appointment=made[2])


def test_the_database_refuses_an_end_before_the_start_and_a_repeated_uid(setting, clinician):
    # Arrange
    made = booked(setting, clinician)
    row = Appointment.objects.get(pk=made[0].pk)

    # Act / Assert
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=row.pk).update(end=row.start)
    row.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


def test_feed_tokens_are_stored_only_as_hashes(clinician):
    # Act
    token = actions.rotate_feed_token(by=clinician)
    again = actions.rotate_feed_token(by=clinician)

    # Assert
    assert len(token) >= 40
    stored = FeedToken.objects.get(staff=clinician).token_hash
    assert stored == actions.feed_token_hash(again)
    assert token not in stored and again not in stored
    assert actions.feed_owner(token) is None
    assert actions.feed_owner(again) == clinician


def test_a_clinician_without_the_sessions_credential_or_hours_is_refused(
    setting, clinician, make_staff
):
    # Arrange: a nurse with no ACLS card working weekdays, a therapist working only Fridays.
    nurse = make_staff(Role.NURSE)
    therapist = make_staff(Role.THERAPIST)
    for person, weekdays in ((nurse, range(5)), (therapist, [4])):
        for weekday in weekdays:
            StaffHours.objects.create(
                staff=person, site=setting["site"], weekday=weekday, start=time(8), end=time(18)
            )

    # Act
    with pytest.raises(InvalidInputs) as refused:
        booked(setting, clinician, dosing_staff=nurse, integration_staff=therapist)

    # Assert
    messages = {(e.field, e.message) for e in refused.value.errors}
    acls_rule = "the clinician administering ketamine holds a current ACLS certification"
    assert ("dosing_staff", f"needs a current ACLS certification ({acls_rule})") in messages
    off_duty = "the clinician is not working at this site at that time"
    assert ("integration_staff", off_duty) in messages
    assert not Appointment.objects.exists()


def test_a_front_desk_member_cannot_be_the_dosing_clinician(setting, clinician, make_staff):
    # Arrange
    desk = make_staff(Role.FRONT_DESK)

    # Act
    with pytest.raises(InvalidInputs) as refused:
        booked(setting, clinician, dosing_staff=desk)

    # Assert
    assert [e.field for e in refused.value.errors] == ["dosing_staff"]
