"""A patient ready for a dosing session (consent, a signed IV plan), made through the real
actions, for the dosing tests."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.clinical.eligibility import BloodPressure
from kapstone.dosing import actions
from kapstone.patients import actions as patient_actions
from kapstone.treatment import actions as treatment

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
NORMAL = {"systolic_bp": "126", "diastolic_bp": "80", "heart_rate": "72", "spo2": "98"}
FULL_ALDRETE = {
    "activity": 2,
    "respiration": 2,
    "circulation": 2,
    "consciousness": 2,
    "oxygenation": 2,
}


def ready_patient(make_patient, clinician, prescriber, route="iv", **plan):
    patient = make_patient()
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
    treatment.screen_patient(
        by=clinician, patient=patient, answers=NO, blood_pressure=BloodPressure(120, 80)
    )
    treatment.record_consent(by=clinician, patient=patient)
    content = {
        "program": "standard",
        "route": route,
        "sessions_per_week": "1",
        "planned_dosing_sessions": 6,
        "modalities": ["act"],
        "goals": "Fewer panic attacks",
        **({"concentration_mg_per_ml": "10"} if route == "iv" else {}),
        **plan,
    }
    signed = treatment.sign_plan(
        by=prescriber, plan=treatment.draft_plan(by=prescriber, patient=patient, **content)
    )
    return patient, signed


@dataclass
class Session:
    session: object
    patient: object
    plan: object


def session_for(site, make_patient, clinician, prescriber, *, start=None, route="iv"):
    patient, plan = ready_patient(make_patient, clinician, prescriber, route=route)
    session = actions.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=start or timezone.now(),
        prescriber=prescriber,
    )
    return Session(session, patient, plan)


def to_checked_in(s: Session, by):
    actions.change_status(by=by, session=s.session, status="checked_in")


def to_cleared(s: Session, by, **check):
    to_checked_in(s, by)
    actions.record_pre_dose_check(
        by=by,
        session=s.session,
        escort_confirmed=True,
        gad7_total=8,
        phq9_item9=0,
        vital_signs=NORMAL,
        weight_kg=s.plan.weight_kg,
        **check,
    )
    actions.clear_for_dosing(by=by, session=s.session)


def administer(s: Session, by, witness, *, minutes_ago=0):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    plan = s.plan
    return actions.record_administration(
        by=by,
        session=s.session,
        drug="Ketamine HCl",
        route=plan.route,
        concentration_mg_per_ml=plan.concentration_mg_per_ml,
        lot="LOT-1",
        expires_on=timezone.localdate() + timedelta(days=90),
        dose_mg=plan.dose_mg,
        volume_ml=plan.volume_ml,
        rate_ml_per_hour="10",
        started_at=started,
        stopped_at=started + timedelta(minutes=40),
        witness=witness,
    )


def to_monitoring(s: Session, by, witness, *, minutes_ago=0):
    to_cleared(s, by)
    administer(s, by, witness, minutes_ago=minutes_ago)


def staff(make_staff):
    return make_staff(Role.NURSE), make_staff(Role.PRESCRIBER)
