"""The schedule's pages: the calendar, booking a series, move one against shift the rest,
refusals shown, and the clinician's calendar feed."""

import re
from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from icalendar import Calendar

from kapstone.access.roles import Role
from kapstone.credentials.models import Credential
from kapstone.scheduling import actions, tasks
from kapstone.scheduling.models import Appointment, FeedToken, RetreatRun, StaffHours
from tests.conftest import signed_in_client
from tests.integration.scheduling_world import acls, book, rooms, sign_plan_for

SERIES = {
    "starts_on": "2030-03-04",
    "weekdays": ["0"],
    "dosing_time": "09:00",
    "dosing_minutes": "120",
    "integration_time": "14:00",
    "integration_minutes": "60",
}


@pytest.fixture
def setting(make_patient, clinician, make_staff, clinic):
    _org, site = clinic
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    plan = sign_plan_for(patient, clinician, make_staff)
    dosing_room, therapy_room = rooms(site)
    therapist = make_staff(Role.THERAPIST)
    made = book(
        by=clinician,
        patient=patient,
        plan=plan,
        site=site,
        dosing_room=dosing_room,
        integration_room=therapy_room,
        dosing_staff=acls(clinician, clinician),
        integration_staff=therapist,
    )
    return {
        "patient": patient,
        "made": made,
        "therapist": therapist,
        "site": site,
        "make_patient": make_patient,
    }


def test_the_calendar_shows_the_week_by_room_with_names(setting, client_for):
    # Arrange
    client = client_for(Role.FRONT_DESK)

    # Act
    response = client.get(reverse("schedule_calendar"), {"day": "2030-03-06"})
    by_room = client.get(
        reverse("schedule_calendar"),
        {"day": "2030-03-04", "span": "day", "room": setting["made"][1].room_id},
    )

    # Assert
    text = response.content.decode()
    assert "Avery Testpatient" in text
    assert "Dosing session 1" in text and "Integration session 1" in text
    assert "Dosing session 2" not in text
    # The Monday's only session is a dosing session, not in the therapy room.
    assert "Avery Testpatient" not in by_room.content.decode()


def test_the_series_page_books_from_the_signed_plan(
    client_for, make_patient, clinician, make_staff
):
    # Arrange
    patient = make_patient(first_name="Casey", last_name="Testpatient")
    sign_plan_for(patient, clinician, make_staff)
    client = client_for(Role.NURSE)
    url = reverse("schedule_patient", args=[patient.pk])

    # Act
    page = client.get(url)
    response = client.post(
        reverse("schedule_generate", args=[patient.pk]),
        {**SERIES, "weekdays": ["2"]},
    )

    # Assert
    assert "Generate the series from the signed plan" in page.content.decode()
    assert response.status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 12
    assert "Dosing session 6" in client.get(url).content.decode()


def test_booking_without_a_signed_plan_saves_nothing(client_for, patient):
    # Arrange
    client = client_for(Role.FRONT_DESK)

    # Act
    response = client.post(
        reverse("schedule_generate", args=[patient.pk]),
        SERIES,
    )

    # Assert
    assert response.status_code == 422
    assert "Nothing was saved" in response.content.decode()
    assert not Appointment.objects.filter(patient=patient).exists()


def test_move_one_against_shift_the_rest(setting, client_for):
    # Arrange
    client = client_for(Role.NURSE)
    first, _, second = setting["made"][:3]

    # Act
    moved = client.post(
        reverse("schedule_move", args=[second.pk]), {"move-new_start": "2030-03-11T10:00"}
    )
    shifted = client.post(
        reverse("schedule_shift", args=[first.pk]), {"shift-new_start": "2030-03-05T09:00"}
    )

    # Assert
    assert moved.status_code == shifted.status_code == 302
    after = {a.pk: a.start for a in Appointment.objects.all()}
    for a in setting["made"]:
        extra = timedelta(hours=1) if a.pk == second.pk else timedelta()
        assert after[a.pk] == a.start + timedelta(days=1) + extra


def test_refusals_are_shown_and_nothing_is_saved(setting, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    integration = setting["made"][1]
    before = {a.pk: a.start for a in Appointment.objects.all()}

    # Act: too soon after its dosing session.
    response = client.post(
        reverse("schedule_move", args=[integration.pk]), {"move-new_start": "2030-03-04T15:00"}
    )

    # Assert
    text = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in text
    assert "integration 1 must start 24 to 72 hours after its dosing session" in text
    assert {a.pk: a.start for a in Appointment.objects.all()} == before


def test_a_double_booking_is_refused_on_the_page(setting, client_for, clinician, make_staff):
    # Arrange: another patient, the same dosing room at the same times.
    other = setting["make_patient"](first_name="Blair", last_name="Otherpatient")
    sign_plan_for(other, clinician, make_staff)
    client = client_for(Role.FRONT_DESK)

    # Act
    response = client.post(
        reverse("schedule_generate", args=[other.pk]),
        {**SERIES, "dosing_room": setting["made"][0].room_id},
    )

    # Assert
    text = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in text
    assert "dosing session 1 overlaps another booking" in text
    assert "Avery" not in text
    assert not Appointment.objects.filter(patient=other).exists()


def test_the_feed_has_the_clinicians_sessions_and_no_patient_data(setting, client):
    # Arrange
    therapist = setting["therapist"]
    staff_client = signed_in_client(therapist)
    staff_client.post(reverse("schedule_feed_link"))
    page = staff_client.get(reverse("schedule_feed_link")).content.decode()
    link = re.search(r"/schedule/feed/[A-Za-z0-9_-]+\.ics", page).group(0)

    # Act
    response = client.get(link)

    # Assert
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    text = response.content.decode()
    events = Calendar.from_ical(text).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Integration session · Room Therapy 1"] * 6
    patient = setting["patient"]
    for secret in (patient.first_name, patient.last_name, str(patient.record_number)):
        assert secret.lower() not in text.lower()
    assert "DESCRIPTION" not in text
    # The link is shown once only.
    assert link not in staff_client.get(reverse("schedule_feed_link")).content.decode()


def test_a_bad_or_replaced_feed_token_is_not_found(setting, client):
    # Arrange
    staff_client = signed_in_client(setting["therapist"])
    staff_client.post(reverse("schedule_feed_link"))
    page = staff_client.get(reverse("schedule_feed_link")).content.decode()
    old = re.search(r"/schedule/feed/[A-Za-z0-9_-]+\.ics", page).group(0)
    staff_client.post(reverse("schedule_feed_link"))

    # Act
    bad = client.get(reverse("schedule_feed", args=["not-a-token"]))
    replaced = client.get(old)

    # Assert
    assert bad.status_code == replaced.status_code == 404
    assert FeedToken.objects.count() == 1


def _retreat_staff(make_staff, site, clinician, *, acls: bool):
    nurse = make_staff(Role.NURSE)
    therapist = make_staff(Role.THERAPIST)
    for person in (nurse, therapist):
        for weekday in range(7):
            StaffHours.objects.create(
                staff=person, site=site, weekday=weekday, start=time(8), end=time(18)
            )
    if acls:
        Credential.objects.create(
            user=nurse,
            kind="acls",
            issued_on=date(2029, 1, 1),
            expires_on=date(2031, 1, 1),
            added_by=clinician,
        )
    return nurse, therapist


def test_a_retreat_cohort_is_scheduled_by_the_optimizer(setting, client_for, clinician, make_staff):
    # Arrange
    _retreat_staff(make_staff, setting["site"], clinician, acls=True)
    client = client_for(Role.NURSE)

    # Act
    response = client.post(
        reverse("retreat_new"),
        {"start": "2030-06-03", "days": "14", "patients": [setting["patient"].pk]},
    )
    run = RetreatRun.objects.get()
    tasks.run_retreat(run.pk)
    page = client.get(reverse("retreat_result", args=[run.pk]))

    # Assert
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "done", run.result
    kinds = [s["kind"] for s in run.result["sessions"]]
    assert sorted(kinds) == ["dosing"] * 6 + ["integration"] * 6
    assert "Avery Testpatient" in page.content.decode()


def test_an_infeasible_cohort_says_which_rule(setting, client_for, clinician, make_staff):
    # Arrange: no one holds ACLS, which intravenous dosing needs.
    _retreat_staff(make_staff, setting["site"], clinician, acls=False)
    run = actions.request_retreat(
        by=clinician,
        site=setting["site"],
        patients=[setting["patient"]],
        start=date(2030, 6, 3),
        days=14,
    )

    # Act
    tasks.run_retreat(run.pk)
    page = client_for(Role.PRESCRIBER).get(reverse("retreat_result", args=[run.pk]))

    # Assert
    run.refresh_from_db()
    assert run.status == "infeasible"
    assert run.result["problems"]
    assert "What cannot be met" in page.content.decode()


def test_a_retreat_needs_signed_plans_and_the_manage_permission(client_for, patient, setting):
    # Arrange
    data = {"start": "2030-06-03", "days": "5", "patients": [patient.pk]}

    # Act
    unsigned = client_for(Role.FRONT_DESK).post(reverse("retreat_new"), data)
    therapist = client_for(Role.THERAPIST).post(
        reverse("retreat_new"), {**data, "patients": [setting["patient"].pk]}
    )

    # Assert
    assert unsigned.status_code == 422
    assert "Nothing was saved" in unsigned.content.decode()
    assert therapist.status_code == 403
    assert not RetreatRun.objects.exists()
