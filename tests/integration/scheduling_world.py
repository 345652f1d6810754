"""A patient with a signed treatment plan and a booked series, for the scheduling tests."""

from datetime import date, datetime, time, timedelta

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.clinical.eligibility import BloodPressure
from kapstone.core.models import Room
from kapstone.credentials.models import Credential
from kapstone.patients import actions as patient_actions
from kapstone.scheduling import actions
from kapstone.scheduling.models import RetreatRun, StaffHours
from kapstone.treatment import actions as treatment_actions

NO = dict.fromkeys(
    [
        "aneurysmal_vascular_disease",
        "arteriovenous_malformation",
        "intracerebral_haemorrhage",
        "psychosis_history",
        "pregnant",
        "breastfeeding",
        "cardiovascular_disease",
        "substance_use_history",
        "fear_of_altered_states",
    ],
    False,
)
PLAN = {
    "program": "standard",
    "route": "iv",
    "sessions_per_week": "1",
    "planned_dosing_sessions": 6,
    "modalities": ["act"],
    "goals": "Fewer panic attacks",
}
# A Monday, far enough ahead that no test runs after it.
FIRST_MONDAY = date(2030, 3, 4)


def sign_plan_for(patient, clinician, make_staff):
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)
    patient_actions.add_contact(
        by=clinician, patient=patient, name="Sam", relationship="partner", phone="1", is_escort=True
    )
    for instrument, answers in [
        ("auditc", {"q1": 0, "q2": 0, "q3": 0}),
        ("dast10", {f"q{i}": False for i in range(1, 11)}),
    ]:
        assessment_actions.record_assessment(
            by=clinician, patient=patient, instrument=instrument, answers=answers
        )
    treatment_actions.screen_patient(
        by=clinician, patient=patient, answers=NO, blood_pressure=BloodPressure(120, 80)
    )
    treatment_actions.record_consent(by=clinician, patient=patient)
    prescriber = make_staff(Role.PRESCRIBER)
    plan = treatment_actions.draft_plan(by=prescriber, patient=patient, **PLAN)
    return treatment_actions.sign_plan(by=prescriber, plan=plan)


def acls(person, by):
    """A current ACLS card, which whoever administers ketamine needs."""
    Credential.objects.create(
        user=person,
        kind="acls",
        issued_on=date(2029, 1, 1),
        expires_on=date(2031, 1, 1),
        added_by=by,
    )
    return person


def rooms(site):
    return (
        Room.objects.create(site=site, name="Dosing 1", kind=Room.Kind.DOSING),
        Room.objects.create(site=site, name="Therapy 1", kind=Room.Kind.THERAPY),
    )


def book(*, by, patient, plan, site, starts_on=FIRST_MONDAY, **extra):
    values = {
        "weekdays": (0,),
        "dosing_time": time(9),
        "integration_time": time(14),
    }
    values.update(extra)
    return actions.generate_series(
        by=by, patient=patient, plan=plan, site=site, starts_on=starts_on, **values
    )


def every_day(person, site, start=time(8), end=time(18)):
    """Hours at the site on each day of the week; the first row."""
    rows = [
        StaffHours.objects.create(staff=person, site=site, weekday=day, start=start, end=end)
        for day in range(7)
    ]
    return rows[0]


def found_retreat(*, by, site, patient, start, dosing_room, therapy_room, clinician):
    """A retreat run for one patient as the optimizer leaves it: six dosing sessions every
    other day at 08:00, each integration session the next morning, one clinician for all
    (who needs ACLS and hours at the site every day)."""
    run = actions.request_retreat(by=by, site=site, patients=[patient], start=start, days=14)
    sessions = []
    for number in range(1, 7):
        dosing = datetime.combine(start + timedelta(days=2 * (number - 1)), time(8))
        integration = dosing + timedelta(days=1)
        for kind, begins, minutes, room in (
            ("dosing", dosing, 120, dosing_room),
            ("integration", integration, 60, therapy_room),
        ):
            sessions.append(
                {
                    "patient": patient.pk,
                    "kind": kind,
                    "index": number,
                    "start": begins.isoformat(),
                    "end": (begins + timedelta(minutes=minutes)).isoformat(),
                    "room": room.pk,
                    "staff": [clinician.pk],
                }
            )
    run.status = RetreatRun.Status.DONE
    run.result = {"solver": "OPTIMAL", "gap": 0.0, "problems": [], "sessions": sessions}
    run.save(update_fields=["status", "result"])
    return run


def one_patient_world(make_patient, clinician, make_staff, clinic) -> dict:
    """One patient with a signed plan, a site and its dosing and therapy rooms: what the
    schedule's action tests book against."""
    _org, site = clinic
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    plan = sign_plan_for(patient, clinician, make_staff)
    dosing_room, therapy_room = rooms(site)
    return {
        "patient": patient,
        "plan": plan,
        "site": site,
        "dosing_room": dosing_room,
        "therapy_room": therapy_room,
        "make_patient": make_patient,
        "make_staff": make_staff,
    }


def booked(setting, by, **extra):
    """A series booked for the world's patient in its rooms."""
    return book(
        by=by,
        patient=setting["patient"],
        plan=setting["plan"],
        site=setting["site"],
        dosing_room=setting["dosing_room"],
        integration_room=setting["therapy_room"],
        **extra,
    )
