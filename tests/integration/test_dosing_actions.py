"""Dosing sessions through their actions: the lifecycle under row locks, both gates, readings
by hand and from a bedside monitor, adverse events and discharge."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.dosing import actions
from kapstone.dosing.models import (
    Administration,
    AdverseEvent,
    Discharge,
    DosingSession,
    PreDoseCheck,
    StatusChange,
    VitalAlert,
    VitalReading,
)
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.monitoring.vitals import check_readings
from tests.integration.access import events_since, last_seq
from tests.integration.dosing_world import (
    FULL_ALDRETE,
    NORMAL,
    administer,
    session_for,
    to_checked_in,
    to_cleared,
    to_monitoring,
)


@pytest.fixture
def people(make_staff):
    return make_staff(Role.NURSE), make_staff(Role.NURSE), make_staff(Role.PRESCRIBER)


@pytest.fixture
def s(clinic, make_patient, clinician, people):
    _nurse, _other, prescriber = people
    return session_for(clinic[1], make_patient, clinician, prescriber)


def fields(caught):
    return [e.field for e in caught.value.errors]


def status(s):
    return DosingSession.objects.get(pk=s.session.pk).status


# Lifecycle


def test_the_whole_path_leaves_a_timeline(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other, minutes_ago=130)
    actions.record_vitals(by=nurse, session=s.session, values=NORMAL)
    actions.discharge(
        by=nurse,
        session=s.session,
        aldrete=FULL_ALDRETE,
        escort_present=True,
        instructions_acknowledged=True,
    )
    assert status(s) == "discharged"
    moves = list(StatusChange.objects.filter(session=s.session).values_list("to_status", flat=True))
    assert moves == ["checked_in", "cleared", "dosing", "monitoring", "ready", "discharged"]


def test_an_illegal_step_is_refused_and_saves_nothing(s, people):
    nurse, _other, _prescriber = people
    before = last_seq()
    with pytest.raises(InvalidInput, match="a scheduled session cannot become monitoring"):
        actions.change_status(by=nurse, session=s.session, status="monitoring")
    assert status(s) == "scheduled" and events_since(before) == []


@pytest.mark.parametrize("target", ["cleared", "discharged"])
def test_gated_steps_are_not_plain_moves(s, people, target):
    nurse, other, _prescriber = people
    if target == "cleared":
        to_checked_in(s, nurse)
    else:
        to_monitoring(s, nurse, other)
        actions.change_status(by=nurse, session=s.session, status="ready")
    with pytest.raises(InvalidInput, match="goes through the"):
        actions.change_status(by=nurse, session=s.session, status=target)


def test_hold_needs_a_reason_and_resumes_to_monitoring_after_the_dose(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    with pytest.raises(InvalidInput) as caught:
        actions.change_status(by=nurse, session=s.session, status="held")
    assert caught.value.field == "reason"
    actions.change_status(by=nurse, session=s.session, status="held", reason="Vomiting")
    session = DosingSession.objects.get(pk=s.session.pk)
    assert (session.held_from, session.status_reason) == ("monitoring", "Vomiting")
    with pytest.raises(InvalidInput, match="resumes as monitoring"):
        actions.change_status(by=nurse, session=s.session, status="checked_in")
    actions.resume(by=nurse, session=session)
    assert status(s) == "monitoring"


def test_the_database_refuses_a_hold_without_reason(s):
    with pytest.raises(IntegrityError), transaction.atomic():
        DosingSession.objects.filter(pk=s.session.pk).update(status="held")


def test_front_desk_cannot_move_a_session(s, make_staff):
    with pytest.raises(AccessDenied):
        actions.change_status(
            by=make_staff(Role.FRONT_DESK), session=s.session, status="checked_in"
        )


# Pre-dose check


def test_a_check_without_escort_holds_and_cannot_be_cleared(s, people):
    nurse, _other, prescriber = people
    to_checked_in(s, nurse)
    check = actions.record_pre_dose_check(
        by=nurse,
        session=s.session,
        escort_confirmed=False,
        gad7_total=5,
        weight_kg=s.plan.weight_kg,
        vital_signs=NORMAL,
    )
    assert check.outcome == "hold" and [f["item"] for f in check.findings] == ["escort"]
    with pytest.raises(InvalidInputs) as caught:
        actions.clear_for_dosing(by=prescriber, session=s.session, review_reason="Seen")
    assert fields(caught) == ["escort"]


def test_high_bp_needs_a_prescribers_review_with_a_reason(s, people):
    nurse, _other, prescriber = people
    to_checked_in(s, nurse)
    check = actions.record_pre_dose_check(
        by=nurse,
        session=s.session,
        escort_confirmed=True,
        gad7_total=5,
        weight_kg=s.plan.weight_kg,
        vital_signs={**NORMAL, "systolic_bp": "152"},
    )
    assert check.outcome == "needs_review"
    assert "clinical-facts.md section 2.1" in check.findings[0]["source"]
    with pytest.raises(InvalidInputs, match="prescriber"):
        actions.clear_for_dosing(by=nurse, session=s.session)
    with pytest.raises(InvalidInputs) as caught:
        actions.clear_for_dosing(by=prescriber, session=s.session)
    assert fields(caught) == ["review_reason"]
    actions.clear_for_dosing(by=prescriber, session=s.session, review_reason="Rechecked: 138/84")
    check.refresh_from_db()
    assert check.reviewed_by == prescriber and status(s) == "cleared"


def test_the_check_reads_consent_and_plan_from_the_record(clinic, make_patient, clinician, people):
    nurse, _other, prescriber = people
    session = actions.schedule_session(
        by=clinician,
        patient=make_patient(),
        site=clinic[1],
        scheduled_start=timezone.now(),
        prescriber=prescriber,
    )
    actions.change_status(by=nurse, session=session, status="checked_in")
    check = actions.record_pre_dose_check(
        by=nurse, session=session, escort_confirmed=True, gad7_total=3, vital_signs=NORMAL
    )
    assert {f["item"] for f in check.findings} == {"consent", "plan"}


def test_impossible_vitals_are_refused_with_every_field(s, people):
    nurse, _other, _prescriber = people
    to_checked_in(s, nurse)
    with pytest.raises(InvalidInputs) as caught:
        actions.record_pre_dose_check(
            by=nurse,
            session=s.session,
            escort_confirmed=True,
            gad7_total="30",
            vital_signs={**NORMAL, "heart_rate": "900", "spo2": "abc"},
        )
    assert fields(caught) == ["gad7_total", "heart_rate", "spo2"]
    assert PreDoseCheck.objects.count() == 0 and VitalReading.objects.count() == 0


# Vitals


def _clinic_monitoring(settings_):
    from kapstone.core.models import Organization

    org = Organization.current()
    org.settings_overrides = {"monitoring": settings_}
    org.save(update_fields=["settings_overrides"])


def test_the_clinics_pre_dose_settings_decide_the_check(s, people):
    nurse, _other, _prescriber = people
    _clinic_monitoring(
        {
            "pre_dose": {"fasting_hours": 4, "pregnancy_test_required": True},
            "thresholds": {"systolic_bp": {"above": "150"}},
        }
    )
    to_checked_in(s, nurse)
    check = actions.record_pre_dose_check(
        by=nurse,
        session=s.session,
        escort_confirmed=True,
        fasting_hours="2",
        pregnancy_test="not_done",
        gad7_total=5,
        weight_kg=s.plan.weight_kg,
        # Above the shipped 140 but within the clinic's 150: no review for BP.
        vital_signs={**NORMAL, "systolic_bp": "146"},
    )
    assert check.outcome == "hold"
    assert sorted((f["item"], f["source"]) for f in check.findings) == [
        ("fasting", "clinic setting"),
        ("pregnancy_test", "clinic setting"),
    ]


def test_a_bad_pre_dose_setting_is_refused_naming_it_and_saves_nothing(s, people):
    nurse, _other, _prescriber = people
    _clinic_monitoring({"pre_dose": {"fasting_hours": "four"}})
    to_checked_in(s, nurse)
    with pytest.raises(InvalidInput) as caught:
        actions.record_pre_dose_check(
            by=nurse,
            session=s.session,
            escort_confirmed=True,
            gad7_total=5,
            weight_kg=s.plan.weight_kg,
            vital_signs=NORMAL,
        )
    assert caught.value.field == "monitoring.pre_dose.fasting_hours"
    assert not PreDoseCheck.objects.filter(session=s.session).exists()


def test_the_clinics_thresholds_raise_the_alerts(s, people):
    nurse, other, _prescriber = people
    _clinic_monitoring({"thresholds": {"heart_rate": {"above": "100"}}})
    to_monitoring(s, nurse, other)
    actions.record_vitals(by=nurse, session=s.session, values={"heart_rate": "105"})
    (alert,) = VitalAlert.objects.filter(reading__vital="heart_rate")
    assert (alert.rule, alert.limit, alert.source) == ("above", Decimal(100), "clinic setting")


def test_hand_vitals_are_saved_as_entered_with_alerts(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    actions.record_vitals(
        by=nurse, session=s.session, values={"systolic_bp": "162", "diastolic_bp": "95.5"}
    )
    rows = VitalReading.objects.filter(session=s.session, pre_dose_check=None, source="hand")
    assert sorted((r.vital, r.value) for r in rows) == [
        ("diastolic_bp", Decimal("95.50")),
        ("systolic_bp", Decimal("162.00")),
    ]
    assert sorted(VitalAlert.objects.values_list("reading__vital", "rule")) == [
        ("diastolic_bp", "above"),
        ("systolic_bp", "above"),
    ]


def _an_alert(s, nurse, other) -> VitalAlert:
    to_monitoring(s, nurse, other)
    actions.record_vitals(by=nurse, session=s.session, values={"spo2": "88"})
    return VitalAlert.objects.get(session=s.session)


def test_an_alert_is_acknowledged_once_with_who_when_and_what(s, people):
    nurse, other, prescriber = people
    alert = _an_alert(s, nurse, other)
    before = last_seq()
    actions.acknowledge_vital_alert(by=other, alert=alert, action_taken="  Rechecked: 96  ")
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.action_taken) == (other, "Rechecked: 96")
    assert alert.acknowledged_at is not None and not alert.is_open
    events = events_since(before)
    assert [(e.action, e.patient_id) for e in events] == [
        ("dosing.alert.acknowledge", s.patient.pk)
    ]
    assert "Rechecked" not in str(events[0].detail)
    with pytest.raises(InvalidInput, match="alert: has already been acknowledged"):
        actions.acknowledge_vital_alert(by=prescriber, alert=alert, action_taken="Seen too")
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.action_taken) == (other, "Rechecked: 96")
    assert [e.action for e in events_since(before)] == ["dosing.alert.acknowledge"]


@pytest.mark.parametrize("action_taken", ["", "   ", None])
def test_an_acknowledgement_says_what_was_done(s, people, action_taken):
    nurse, other, _prescriber = people
    alert = _an_alert(s, nurse, other)
    with pytest.raises(InvalidInputs) as caught:
        actions.acknowledge_vital_alert(by=nurse, alert=alert, action_taken=action_taken)
    assert fields(caught) == ["action_taken"]
    alert.refresh_from_db()
    assert alert.is_open


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.THERAPIST, Role.BILLING])
def test_only_dosing_staff_acknowledge_an_alert(s, people, make_staff, role):
    nurse, other, _prescriber = people
    alert = _an_alert(s, nurse, other)
    with pytest.raises(AccessDenied):
        actions.acknowledge_vital_alert(by=make_staff(role), alert=alert, action_taken="Seen")
    alert.refresh_from_db()
    assert alert.is_open


@pytest.mark.parametrize(
    "change",
    [
        {"action_taken": "Seen"},
        {"acknowledged_at": timezone.now()},
        {"acknowledged_at": timezone.now(), "action_taken": "Seen"},
        {"acknowledged_by": "nurse", "acknowledged_at": timezone.now()},
        {"acknowledged_by": "nurse", "action_taken": "Seen"},
    ],
)
def test_the_database_keeps_an_acknowledgement_whole(s, people, change):
    nurse, other, _prescriber = people
    alert = _an_alert(s, nurse, other)
    change = {k: (nurse if v == "nurse" else v) for k, v in change.items()}
    with pytest.raises(IntegrityError), transaction.atomic():
        VitalAlert.objects.filter(pk=alert.pk).update(**change)


def test_two_nurses_entries_never_overwrite(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    at = timezone.now()
    actions.record_vitals(by=nurse, session=s.session, values={"heart_rate": "80"}, taken_at=at)
    actions.record_vitals(by=other, session=s.session, values={"heart_rate": "82"}, taken_at=at)
    rows = VitalReading.objects.filter(session=s.session, vital="heart_rate", taken_at=at)
    assert sorted((r.recorded_by_id, r.value) for r in rows) == sorted(
        [(nurse.pk, Decimal(80)), (other.pk, Decimal(82))]
    )


def test_no_readings_for_a_scheduled_session(s, people):
    nurse, _other, _prescriber = people
    with pytest.raises(InvalidInput, match="cannot take readings"):
        actions.record_vitals(by=nurse, session=s.session, values=NORMAL)


def test_device_readings_are_recorded_once_per_message(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    readings = tuple(check_readings({"spo2": "90", "heart_rate": "70"}, taken_at=timezone.now()))
    before = last_seq()
    for _ in range(2):
        actions.record_device_readings(
            session=s.session, readings=readings, source="device", control_id="MSG1"
        )
    rows = VitalReading.objects.filter(session=s.session, source="device")
    assert rows.count() == 2
    assert list(VitalAlert.objects.values_list("reading__vital", flat=True)) == ["spo2"]
    assert [e.action for e in events_since(before)] == ["dosing.vitals.device"]


def test_device_readings_reach_a_session_under_way_through_the_sink(s, people):
    from kapstone.monitoring.sink import session_in_progress

    nurse, other, _prescriber = people
    assert session_in_progress(s.patient) is None
    to_monitoring(s, nurse, other)
    assert session_in_progress(s.patient).pk == s.session.pk


# Administration


def test_the_administration_record_checks_every_field(s, people):
    nurse, _other, _prescriber = people
    to_cleared(s, nurse)
    started = timezone.now()
    with pytest.raises(InvalidInputs) as caught:
        actions.record_administration(
            by=nurse,
            session=s.session,
            drug="",
            route="iv",
            concentration_mg_per_ml="10",
            lot="L1",
            expires_on=timezone.localdate() - timedelta(days=1),
            dose_mg="35",
            volume_ml="9",
            started_at=started,
            stopped_at=started - timedelta(minutes=1),
            witness=nurse,
        )
    assert fields(caught) == [
        "drug",
        "expires_on",
        "stopped_at",
        "witness",
        "rate_ml_per_hour",
        "volume_ml",
    ]
    assert Administration.objects.count() == 0 and status(s) == "cleared"


def test_no_dose_before_clearance(s, people):
    nurse, other, _prescriber = people
    to_checked_in(s, nurse)
    with pytest.raises(InvalidInput, match="cannot record a dose"):
        administer(s, nurse, other)


def _vial(s, nurse, site=None):
    from kapstone.ledger import actions as ledger
    from kapstone.ledger.models import Container
    from tests.integration.test_ledger_fixtures import receive

    safe = ledger.add_location(by=nurse, site=site or s.session.site, name="Safe", kind="safe")
    return Container.objects.get(receipt=receive(nurse, safe, containers=1))


def _give_from(s, nurse, other, container, *, dose="35", **typed):
    started = timezone.now()
    return actions.record_administration(
        by=nurse,
        session=s.session,
        drug=typed.pop("drug", ""),
        route="iv",
        concentration_mg_per_ml=typed.pop("concentration_mg_per_ml", ""),
        lot=typed.pop("lot", ""),
        expires_on=typed.pop("expires_on", None),
        dose_mg=dose,
        volume_ml=str(Decimal(dose) / 50),
        rate_ml_per_hour="10",
        started_at=started,
        stopped_at=started + timedelta(minutes=40),
        witness=other,
        container=container,
    )


def test_a_dose_drawn_from_the_ledger_takes_the_containers_details(s, people):
    from kapstone.ledger.models import LedgerEntry

    nurse, other, _prescriber = people
    container = _vial(s, nurse)
    to_cleared(s, nurse)
    given = _give_from(s, nurse, other, container)
    assert given.ledger_entry.session_id == s.session.pk
    assert given.ledger_entry.patient_id == s.patient.pk
    assert (given.lot, given.expires_on) == (container.lot_number, container.expires_on)
    assert given.concentration_mg_per_ml == Decimal(50)
    assert given.drug == "Ketamine hydrochloride"
    container.refresh_from_db()
    assert container.balance_mg == container.initial_mg - Decimal(35)
    assert LedgerEntry.objects.filter(session=s.session, kind="administer").count() == 1


def test_typed_details_that_match_the_container_are_kept(s, people):
    nurse, other, _prescriber = people
    container = _vial(s, nurse)
    to_cleared(s, nurse)
    given = _give_from(
        s,
        nurse,
        other,
        container,
        drug="Ketamine HCl",
        lot=container.lot_number,
        concentration_mg_per_ml="50.0",
        expires_on=container.expires_on,
    )
    assert given.drug == "Ketamine HCl" and given.ledger_entry is not None


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"lot": "LOT-OTHER"}, "lot"),
        ({"concentration_mg_per_ml": "10"}, "concentration_mg_per_ml"),
        ({"expires_on": date(2030, 1, 1)}, "expires_on"),
    ],
)
def test_typed_details_that_differ_from_the_container_are_refused(s, people, typed, field):
    nurse, other, _prescriber = people
    container = _vial(s, nurse)
    to_cleared(s, nurse)
    with pytest.raises(InvalidInputs) as caught:
        _give_from(s, nurse, other, container, **typed)
    assert field in fields(caught)
    container.refresh_from_db()
    assert container.balance_mg == container.initial_mg
    assert not Administration.objects.filter(session=s.session).exists()


def test_an_over_draw_is_refused_on_the_container_and_saves_nothing(s, people):
    nurse, other, _prescriber = people
    container = _vial(s, nurse)
    to_cleared(s, nurse)
    before = last_seq()
    with pytest.raises(InvalidInputs) as caught:
        _give_from(s, nurse, other, container, dose=str(container.balance_mg + 50))
    assert fields(caught) == ["container"]
    container.refresh_from_db()
    assert container.balance_mg == container.initial_mg
    assert not Administration.objects.filter(session=s.session).exists()
    assert status(s) == "cleared"
    assert events_since(before) == []


def test_a_container_at_another_site_is_refused(s, people, clinic):
    from kapstone.core.models import Site

    nurse, other, _prescriber = people
    elsewhere = Site.objects.create(
        organization=s.session.site.organization, name="Annex", code="annex"
    )
    container = _vial(s, nurse, site=elsewhere)
    to_cleared(s, nurse)
    with pytest.raises(InvalidInputs) as caught:
        _give_from(s, nurse, other, container)
    assert "container" in fields(caught)


# Adverse events


def test_a_grade_3_event_mails_the_prescriber_without_patient_data(
    s, people, django_capture_on_commit_callbacks
):
    nurse, other, prescriber = people
    prescriber.email = "prescriber@example.org"
    prescriber.save()
    to_monitoring(s, nurse, other)
    with django_capture_on_commit_callbacks(execute=True):
        event = actions.record_adverse_event(
            by=nurse,
            session=s.session,
            kind="hypertension",
            grade="3",
            action="Labetalol given",
            outcome="Resolved",
        )
    (message,) = mail.outbox
    assert message.to == ["prescriber@example.org"]
    for value in (s.patient.first_name, s.patient.last_name, s.patient.record_number):
        assert value not in message.subject + message.body
    event.refresh_from_db()
    assert event.notified_at is not None


def test_a_grade_2_event_sends_nothing(s, people, django_capture_on_commit_callbacks):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    with django_capture_on_commit_callbacks(execute=True):
        actions.record_adverse_event(
            by=nurse,
            session=s.session,
            kind="nausea_vomiting",
            grade=2,
            action="Ondansetron",
            outcome="Settled",
        )
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"grade": "6"}, "grade"), ({"kind": "other"}, "description"), ({"action": ""}, "action")],
)
def test_adverse_event_inputs(s, people, change, field):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    data = {"kind": "dizziness", "grade": 1, "action": "Rest", "outcome": "Settled", **change}
    with pytest.raises(InvalidInputs) as caught:
        actions.record_adverse_event(by=nurse, session=s.session, **data)
    assert fields(caught) == [field]
    assert AdverseEvent.objects.count() == 0


# Discharge


def test_early_discharge_is_refused_with_the_reasons(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other, minutes_ago=30)
    actions.record_vitals(by=nurse, session=s.session, values=NORMAL)
    with pytest.raises(InvalidInputs) as caught:
        actions.discharge(
            by=nurse,
            session=s.session,
            aldrete={**FULL_ALDRETE, "consciousness": 0},
            escort_present=True,
            instructions_acknowledged=False,
        )
    assert fields(caught) == ["monitoring", "aldrete", "instructions"]
    assert Discharge.objects.count() == 0 and status(s) == "monitoring"


def test_only_a_prescriber_overrides_with_a_reason(s, people):
    nurse, other, prescriber = people
    to_monitoring(s, nurse, other, minutes_ago=30)
    actions.record_vitals(by=nurse, session=s.session, values=NORMAL)
    args = {
        "session": s.session,
        "aldrete": FULL_ALDRETE,
        "escort_present": True,
        "instructions_acknowledged": True,
        "override_reason": "Transferred to the emergency department",
    }
    with pytest.raises(AccessDenied):
        actions.discharge(by=nurse, **args)
    row = actions.discharge(by=prescriber, **args)
    assert row.override_by == prescriber
    assert [o["item"] for o in row.overridden] == ["monitoring"]


def test_the_database_refuses_a_discharge_below_9_without_override(s, people):
    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    with pytest.raises(IntegrityError), transaction.atomic():
        Discharge.objects.create(
            session=s.session,
            aldrete_activity=1,
            aldrete_respiration=1,
            aldrete_circulation=2,
            aldrete_consciousness=2,
            aldrete_oxygenation=2,
            aldrete_total=8,
            escort_present=True,
            instructions_acknowledged=True,
            monitored_minutes=130,
            discharged_by=nurse,
            discharged_at=timezone.now(),
        )


def test_a_monitor_message_is_stored_once_through_the_sink(s, people):
    from pathlib import Path

    from kapstone.monitoring.hl7v2 import parse_oru
    from kapstone.monitoring.sink import device_store

    nurse, other, _prescriber = people
    to_monitoring(s, nurse, other)
    fixture = Path(__file__).parents[1] / "fixtures" / "hl7" / "normal.hl7"
    text = fixture.read_text().replace("\n", "\r").replace("K000123", s.patient.record_number)
    message = parse_oru(text)
    device_store(message)
    device_store(message)
    assert VitalReading.objects.filter(session=s.session, source="device").count() == 6
