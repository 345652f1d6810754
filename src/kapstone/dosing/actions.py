"""Every change to a dosing session goes through these functions (see kapstone.patients.actions
for the pattern: permission, validation of every field, one transaction, one audit event).

Status changes lock the session's row, so two nurses never move one session at once; readings,
alerts and adverse events are appended, never updated, so their entries never overwrite each
other's (an alert's one acknowledgement is written under the alert's row lock). The gates are
the pure rules of ``kapstone.dosing.gates``.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Permission, Role
from kapstone.audit.recording import record
from kapstone.clinical import protocols
from kapstone.core.models import Room, Site
from kapstone.core.permissions import check_permission, has_permission
from kapstone.dosing import gates, queries
from kapstone.dosing.models import (
    Administration,
    AdverseEvent,
    AdverseEventKind,
    DeviceMessage,
    Discharge,
    DosingSession,
    PreDoseCheck,
    StatusChange,
    VitalAlert,
    VitalReading,
)
from kapstone.dosing.rules import (
    GATED,
    TAKES_READINGS,
    SessionStatus,
    check_transition,
    resume_status,
)
from kapstone.errors import FieldErrors, InvalidInput, InvalidInputs
from kapstone.monitoring import vitals
from kapstone.monitoring.vitals import Reading
from kapstone.patients.models import Patient

S = SessionStatus

# Booking a dosing session is front-desk work, as booking any appointment is (the schedule
# books one for each dosing appointment); what happens in the session is clinical.
SCHEDULE_PERMISSION = Permission.SCHEDULE_MANAGE
# Adverse events at or above this CTCAE grade notify the prescriber at once: grade 3 is
# "severe or medically significant" (clinical-facts.md §2.6).
NOTIFY_GRADE = 3
# Volumes are compared to the thousandth of a millilitre.
MILLILITRE = Decimal("0.001")


def _lock(session: DosingSession) -> DosingSession:
    return DosingSession.objects.select_for_update().get(pk=session.pk)


def _move(session: DosingSession, new: SessionStatus, by, reason: str = "") -> None:
    """Apply a checked move to a locked session and keep it on the timeline."""
    before = session.status
    session.status = new.value
    session.status_reason = reason.strip() if new in (S.HELD, S.ABORTED) else ""
    session.held_from = before if new is S.HELD else ""
    fields = ["status", "status_reason", "held_from"]
    if new is S.CHECKED_IN and session.checked_in_at is None:
        session.checked_in_at = timezone.now()
        fields.append("checked_in_at")
    session.save(update_fields=fields)
    StatusChange.objects.create(
        session=session, from_status=before, to_status=new.value, reason=reason.strip(), by=by
    )


def _require_status(session: DosingSession, allowed, doing: str) -> None:
    if session.status not in allowed:
        raise InvalidInput("status", f"a {session.status_label.lower()} session cannot {doing} now")


@transaction.atomic
def schedule_session(
    *,
    by,
    patient: Patient,
    site: Site,
    scheduled_start: datetime,
    prescriber,
    room: Room | None = None,
) -> DosingSession:
    check_permission(by, SCHEDULE_PERMISSION)
    errors = FieldErrors()
    if scheduled_start is None:
        errors.add("scheduled_start", "is required")
    if prescriber is None or Role.PRESCRIBER not in prescriber.roles or not prescriber.is_active:
        errors.add("prescriber", "must be an active prescriber")
    if room is not None and room.site_id != site.pk:
        errors.add("room", "must be a room at the session's site")
    errors.raise_any()
    session = DosingSession.objects.create(
        patient=patient,
        site=site,
        room=room,
        scheduled_start=scheduled_start,
        prescriber=prescriber,
        created_by=by,
    )
    record(actor=by, action="dosing.session.create", target=session)
    return session


@transaction.atomic
def change_status(*, by, session: DosingSession, status: str, reason: str = "") -> DosingSession:
    """A plain move: check in, start the dose, ready for discharge, hold, resume, abort, cancel.
    Clearing and discharge have their own gates (clear_for_dosing, discharge)."""
    check_permission(by, Permission.DOSING_RECORD)
    session = _lock(session)
    new = check_transition(session.status, status, reason=reason)
    if new in GATED:
        raise InvalidInput(
            "status",
            "goes through the pre-dose check"
            if new is S.CLEARED
            else "goes through the discharge check",
        )
    if (
        session.status == S.HELD
        and new is not S.ABORTED
        and new is not resume_status(session.held_from)
    ):
        raise InvalidInput(
            "status", f"a held session resumes as {resume_status(session.held_from).label.lower()}"
        )
    before = session.status
    _move(session, new, by, reason)
    record(
        actor=by,
        action="dosing.session.status",
        target=session,
        detail={"from": before, "to": new.value, "reason": bool(reason.strip())},
    )
    return session


def resume(*, by, session: DosingSession) -> DosingSession:
    return change_status(by=by, session=session, status=resume_status(session.held_from))


# ---------------------------------------------------------------------------------------------
# Pre-dose check


def _decimal(errors: FieldErrors, field: str, value, *, required=False) -> Decimal | None:
    if value is None or value == "":
        if required:
            errors.add(field, "is required")
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(field, "must be a number")
        return None
    if not number.is_finite() or number < 0:
        errors.add(field, "must be a number of 0 or more")
        return None
    return number


def _whole(errors: FieldErrors, field: str, value, top: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.add(field, "must be a whole number")
        return None
    if not 0 <= number <= top:
        errors.add(field, f"must be between 0 and {top}")
        return None
    return number


def _choice(errors: FieldErrors, field: str, value, kind):
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except ValueError:
        errors.add(field, "is not one of the allowed choices")
        return None


def record_facts(patient: Patient):
    """(consent current, signed plan or None) from the record."""
    from kapstone.treatment.actions import current_consent
    from kapstone.treatment.models import TreatmentPlan

    # current_consent answers for the clinic's form version and a withdrawal.
    consent = current_consent(patient)
    plan = TreatmentPlan.objects.filter(patient=patient, status="signed").first()
    return consent is not None, plan


def _readings(
    errors: FieldErrors, values: Mapping[str, object], taken_at: datetime
) -> list[Reading]:
    try:
        return vitals.check_readings(values, taken_at=taken_at)
    except InvalidInputs as bad:
        errors.errors += bad.errors
        return []


@transaction.atomic
def record_pre_dose_check(
    *,
    by,
    session: DosingSession,
    escort_confirmed: bool,
    vital_signs: Mapping[str, object],
    fasting_hours=None,
    weight_kg=None,
    pregnancy_test: str | None = None,
    gad7_total=None,
    phq9_item9=None,
    suicide_risk: str | None = None,
    taken_at: datetime | None = None,
    rules: gates.PreDoseRules | None = None,
) -> PreDoseCheck:
    """The nurse's pre-dose check: consent and plan from the record, the rest as confirmed and
    measured. Stored with the gate's outcome and every finding, whatever the outcome."""
    check_permission(by, Permission.DOSING_RECORD)
    session = _lock(session)
    _require_status(session, {S.CHECKED_IN}, "have a pre-dose check")
    taken_at = taken_at or timezone.now()
    errors = FieldErrors()
    fasting = _decimal(errors, "fasting_hours", fasting_hours)
    weight = _decimal(errors, "weight_kg", weight_kg)
    if weight is not None and weight == 0:
        errors.add("weight_kg", "must be more than 0")
    pregnancy = _choice(errors, "pregnancy_test", pregnancy_test, gates.PregnancyTest)
    risk = _choice(errors, "suicide_risk", suicide_risk, gates.SuicideRisk)
    gad7 = _whole(errors, "gad7_total", gad7_total, 21)
    item9 = _whole(errors, "phq9_item9", phq9_item9, 3)
    readings = _readings(errors, vital_signs, taken_at)
    errors.raise_any()
    consent_current, plan = record_facts(session.patient)
    plan_weight = plan.weight_kg if plan is not None else None
    facts = gates.PreDoseFacts(
        fasting_hours=fasting,
        escort_confirmed=bool(escort_confirmed),
        consent_current=consent_current,
        plan_signed=plan is not None,
        plan_weight_kg=plan_weight,
        weight_kg=weight,
        pregnancy_test=pregnancy,
        gad7_total=gad7,
        phq9_item9=item9,
        suicide_risk=risk,
        readings=tuple(readings),
    )
    result = gates.evaluate_pre_dose(facts, rules or queries.pre_dose_rules())
    check = PreDoseCheck.objects.create(
        session=session,
        fasting_hours=fasting,
        escort_confirmed=facts.escort_confirmed,
        consent_current=consent_current,
        plan_signed=plan is not None,
        plan_weight_kg=plan_weight,
        weight_kg=weight,
        pregnancy_test=pregnancy.value if pregnancy else "",
        gad7_total=gad7,
        phq9_item9=item9,
        suicide_risk=risk.value if risk else "",
        outcome=result.outcome.value,
        findings=[
            {"item": f.item, "outcome": f.outcome.value, "message": f.message, "source": f.source}
            for f in result.findings
        ],
        recorded_by=by,
    )
    if plan is not None and not session.route:
        session.route = plan.route
        session.save(update_fields=["route"])
    _store_readings(session, readings, source="hand", by=by, check=check)
    record(
        actor=by,
        action="dosing.predose.record",
        target=check,
        patient=session.patient,
        detail={"outcome": result.outcome.value, "items": [f.item for f in result.findings]},
    )
    return check


def result_of(check: PreDoseCheck) -> gates.PreDoseResult:
    return gates.PreDoseResult(
        tuple(
            gates.Finding(f["item"], gates.Outcome(f["outcome"]), f["message"], f["source"])
            for f in check.findings
        )
    )


@transaction.atomic
def clear_for_dosing(*, by, session: DosingSession, review_reason: str = "") -> DosingSession:
    """Clear the patient for dosing on the latest pre-dose check. A check that needs review is
    cleared only by a prescriber, with a reason; a hold is never cleared."""
    check_permission(by, Permission.DOSING_RECORD)
    session = _lock(session)
    check_transition(session.status, S.CLEARED)
    check = session.pre_dose_checks.order_by("-recorded_at", "-pk").first()
    if check is None:
        raise InvalidInput("pre_dose_check", "is required before clearing for dosing")
    result = result_of(check)
    reviewing = result.outcome is gates.Outcome.NEEDS_REVIEW
    if reviewing and not has_permission(by, Permission.DOSING_OVERRIDE):
        raise InvalidInputs(
            [
                InvalidInput(f.item, f"{f.message} (needs a prescriber's review)")
                for f in result.reasons(gates.Outcome.NEEDS_REVIEW)
            ]
        )
    gates.check_can_dose(
        result, reviewed_by_prescriber=reviewing, review_reason=review_reason or ""
    )
    if reviewing:
        check.reviewed_by = by
        check.review_reason = review_reason.strip()
        check.save(update_fields=["reviewed_by", "review_reason"])
    _move(session, S.CLEARED, by)
    record(
        actor=by,
        action="dosing.session.clear",
        target=session,
        detail={"check": check.pk, "reviewed": reviewing},
    )
    return session


# ---------------------------------------------------------------------------------------------
# Vital signs


def _store_readings(session, readings, *, source, by=None, message=None, check=None) -> int:
    rows = VitalReading.objects.bulk_create(
        [
            VitalReading(
                session=session,
                vital=r.vital.value,
                value=r.value,
                unit=r.unit,
                taken_at=r.taken_at or timezone.now(),
                source=source,
                recorded_by=by,
                device_message=message,
                pre_dose_check=check,
            )
            for r in readings
        ]
    )
    if not rows or rows[0].pk is None:
        # Backends that do not return ids from a bulk insert: read them back.
        rows = list(session.readings.order_by("-pk")[: len(rows)])[::-1]
    by_reading = list(zip(rows, readings, strict=True))
    alerts = []
    limits = queries.alert_thresholds()
    for row, reading in by_reading:
        for alert in vitals.alerts_for([reading], limits):
            alerts.append(
                VitalAlert(
                    session=session,
                    reading=row,
                    rule=alert.rule,
                    limit=alert.limit,
                    source=alert.source,
                )
            )
    VitalAlert.objects.bulk_create(alerts)
    return len(alerts)


@transaction.atomic
def record_vitals(
    *, by, session: DosingSession, values: Mapping[str, object], taken_at: datetime | None = None
) -> list[VitalReading]:
    """A set of vitals entered by hand, each saved as entered; impossible values refused."""
    check_permission(by, Permission.DOSING_RECORD)
    session = DosingSession.objects.get(pk=session.pk)
    _require_status(session, TAKES_READINGS, "take readings")
    taken_at = taken_at or timezone.now()
    errors = FieldErrors()
    if taken_at.tzinfo is None:
        errors.add("taken_at", "must carry a time zone")
    elif taken_at > timezone.now() + vitals_tolerance():
        errors.add("taken_at", "cannot be in the future")
    readings = _readings(errors, values, taken_at) if not errors.errors else []
    if not errors.errors and not readings:
        errors.add("vitals", "enter at least one reading")
    errors.raise_any()
    alerts = _store_readings(session, readings, source="hand", by=by)
    record(
        actor=by,
        action="dosing.vitals.record",
        target=session,
        detail={"vitals": [r.vital.value for r in readings], "alerts": alerts, "source": "hand"},
    )
    return list(session.readings.filter(taken_at=taken_at, recorded_by=by))


def vitals_tolerance() -> timedelta:
    # A clock a few minutes fast must not turn a real reading into an error.
    return timedelta(minutes=5)


def record_device_readings(
    *, session: DosingSession, readings: Sequence[Reading], source: str, control_id: str
) -> None:
    """Readings from a bedside monitor (kapstone.monitoring.sink), recorded once per message:
    a resent message with the same control id is acknowledged and not stored again."""
    if source != "device":
        raise InvalidInput("source", "must be device")
    if not control_id:
        raise InvalidInput("control_id", "is required")
    with transaction.atomic():
        # Read again inside the transaction: the nurse may have just discharged the patient.
        session = DosingSession.objects.get(pk=session.pk)
        if session.status not in TAKES_READINGS:
            raise InvalidInput("session", "is not under way")
        try:
            with transaction.atomic():
                message = DeviceMessage.objects.create(session=session, control_id=control_id)
        except IntegrityError:
            # A resent message (or two copies at once): its control id is stored already.
            return
        alerts = _store_readings(session, readings, source="device", message=message)
        record(
            actor=None,
            action="dosing.vitals.device",
            target=session,
            detail={
                "vitals": sorted({r.vital.value for r in readings}),
                "alerts": alerts,
                "message": message.pk,
            },
        )


@transaction.atomic
def acknowledge_vital_alert(*, by, alert: VitalAlert, action_taken: str) -> VitalAlert:
    """A nurse or prescriber has seen an alert and says what was done. Under a row lock, so of
    two at once one acknowledges and the other is told it is done."""
    check_permission(by, Permission.DOSING_RECORD)
    alert = VitalAlert.objects.select_for_update().get(pk=alert.pk)
    gates.check_can_acknowledge_alert(alert.acknowledged_at)
    errors = FieldErrors()
    action_taken = _text(errors, "action_taken", action_taken)
    errors.raise_any()
    alert.acknowledged_by = by
    alert.acknowledged_at = timezone.now()
    alert.action_taken = action_taken
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "action_taken"])
    session = DosingSession.objects.select_related("patient").get(pk=alert.session_id)
    record(
        actor=by,
        action="dosing.alert.acknowledge",
        target=alert,
        patient=session.patient,
        detail={"session": session.pk, "fields": ["acknowledged_by", "action_taken"]},
    )
    return alert


# ---------------------------------------------------------------------------------------------
# Administration


def _text(errors: FieldErrors, field: str, value, *, required=True) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else None
    if text is None:
        errors.add(field, "must be text")
        return ""
    if required and not text:
        errors.add(field, "is required")
    return text


def _same(entered, recorded) -> bool:
    if isinstance(recorded, Decimal):
        try:
            return Decimal(str(entered).strip()) == recorded
        except (InvalidOperation, ValueError):
            return False
    return (entered.strip() if isinstance(entered, str) else entered) == recorded


def _from_container(errors: FieldErrors, session, container, *, drug, **typed):
    """The chosen ledger container, locked, with the drug, strength, lot and expiry it gives.

    The ledger knows the strength, lot and expiry of the container; a typed value that differs
    is refused rather than overwritten, since it means the vial in hand is not the one chosen.
    """
    from kapstone.ledger.models import Container

    container = (
        Container.objects.select_for_update(of=("self",))
        .select_related("product", "location")
        .get(pk=container.pk)
    )
    if container.location.site_id != session.site_id:
        errors.add("container", "is kept at another site than the session's")
    recorded = {
        "concentration_mg_per_ml": container.product.mg_per_ml,
        "lot": container.lot_number,
        "expires_on": container.expires_on,
    }
    for field, value in recorded.items():
        entered = typed[field]
        if entered not in (None, "") and not _same(entered, value):
            errors.add(field, "does not match the chosen container")
    if not (isinstance(drug, str) and drug.strip()):
        drug = container.product.get_substance_display()
    return container, drug, *recorded.values()


@transaction.atomic
def record_administration(
    *,
    by,
    session: DosingSession,
    drug: str,
    route: str,
    concentration_mg_per_ml,
    lot: str,
    expires_on: date | None,
    dose_mg,
    started_at: datetime | None,
    stopped_at: datetime | None,
    witness,
    volume_ml=None,
    rate_ml_per_hour=None,
    devices=None,
    rest_minutes=None,
    container=None,
) -> Administration:
    """The dose as given. With a ledger container the dose is drawn from the controlled-substance
    ledger in the same transaction; without one it is recorded here only."""
    check_permission(by, Permission.DOSING_RECORD)
    session = _lock(session)
    _require_status(session, {S.CLEARED, S.DOSING}, "record a dose")
    errors = FieldErrors()
    if container is not None:
        container, drug, concentration_mg_per_ml, lot, expires_on = _from_container(
            errors,
            session,
            container,
            drug=drug,
            concentration_mg_per_ml=concentration_mg_per_ml,
            lot=lot,
            expires_on=expires_on,
        )
    drug = _text(errors, "drug", drug)
    lot = _text(errors, "lot", lot)
    try:
        rule = protocols.library().route(route)
    except InvalidInput as error:
        errors.errors.append(error)
        rule = None
    strength = _decimal(errors, "concentration_mg_per_ml", concentration_mg_per_ml, required=True)
    dose = _decimal(errors, "dose_mg", dose_mg, required=True)
    volume = _decimal(errors, "volume_ml", volume_ml)
    rate = _decimal(errors, "rate_ml_per_hour", rate_ml_per_hour)
    for field, value in (("concentration_mg_per_ml", strength), ("dose_mg", dose)):
        if value == 0:
            errors.add(field, "must be more than 0")
    if expires_on is None:
        errors.add("expires_on", "is required")
    elif started_at is not None and expires_on < timezone.localdate(started_at):
        errors.add("expires_on", "has passed: an expired lot is not given")
    if started_at is None:
        errors.add("started_at", "is required")
    if stopped_at is None:
        errors.add("stopped_at", "is required")
    elif started_at is not None and stopped_at < started_at:
        errors.add("stopped_at", "must not be before the start")
    if witness is None:
        errors.add("witness", "is required")
    elif witness.pk == by.pk:
        errors.add("witness", "must be someone other than who gives the dose")
    elif not has_permission(witness, Permission.DOSING_RECORD):
        errors.add("witness", "must be a nurse or prescriber")
    device_count = None
    rests = None
    if rule is not None:
        if rule.route is protocols.Route.IV and (rate is None or rate == 0):
            errors.add("rate_ml_per_hour", "is required for an infusion")
        if rule.form is protocols.Form.DEVICE:
            device_count = _whole(errors, "devices", devices, 10)
            rests = _whole(errors, "rest_minutes", rest_minutes, 120)
            if not device_count:
                errors.add("devices", "is required for intranasal doses")
            if rests is None:
                errors.add("rest_minutes", "is required for intranasal doses")
        elif volume is None or volume == 0:
            errors.add("volume_ml", "is required")
        measured = strength and dose and volume and rule.form is not protocols.Form.DEVICE
        if measured and (dose / strength).quantize(MILLILITRE) != volume.quantize(MILLILITRE):
            errors.add("volume_ml", "does not match the dose at this concentration")
    if container is not None and dose and dose > container.balance_mg:
        errors.add("container", "holds less than the dose: choose another container")
    errors.raise_any()
    entry = None
    if container is not None:
        from kapstone.ledger import actions as ledger

        entry = ledger.administer(
            by=by, container=container, session=session, quantity=str(dose), occurred_at=started_at
        )
    administration = Administration.objects.create(
        session=session,
        drug=drug,
        route=rule.route.value,
        concentration_mg_per_ml=strength,
        lot=lot,
        expires_on=expires_on,
        dose_mg=dose,
        volume_ml=volume,
        started_at=started_at,
        stopped_at=stopped_at,
        rate_ml_per_hour=rate,
        devices=device_count,
        rest_minutes=rests,
        given_by=by,
        witness=witness,
        ledger_entry=entry,
    )
    if session.status == S.CLEARED:
        _move(session, S.DOSING, by)
    session.dose_started_at = started_at
    session.route = rule.route.value
    session.save(update_fields=["dose_started_at", "route"])
    _move(session, S.MONITORING, by)
    record(
        actor=by,
        action="dosing.administration.record",
        target=administration,
        patient=session.patient,
        detail={"ledger": entry is not None},
    )
    return administration


# ---------------------------------------------------------------------------------------------
# Adverse events


@transaction.atomic
def record_adverse_event(
    *,
    by,
    session: DosingSession,
    kind: str,
    grade,
    action: str,
    outcome: str,
    onset_at: datetime | None = None,
    description: str = "",
) -> AdverseEvent:
    check_permission(by, Permission.DOSING_RECORD)
    session = DosingSession.objects.get(pk=session.pk)
    _require_status(session, TAKES_READINGS | {S.DISCHARGED}, "record an adverse event")
    errors = FieldErrors()
    if kind not in AdverseEventKind.values:
        errors.add("kind", "is not one of the allowed choices")
    description = _text(errors, "description", description, required=kind == "other")
    grade = _whole(errors, "grade", grade, 5)
    if grade == 0:
        errors.add("grade", "must be between 1 and 5 (CTCAE)")
    elif grade is None and not any(e.field == "grade" for e in errors.errors):
        errors.add("grade", "is required")
    action = _text(errors, "action", action)
    outcome = _text(errors, "outcome", outcome)
    errors.raise_any()
    event = AdverseEvent.objects.create(
        session=session,
        kind=kind,
        description=description,
        grade=grade,
        onset_at=onset_at or timezone.now(),
        action=action,
        outcome=outcome,
        recorded_by=by,
    )
    record(
        actor=by,
        action="dosing.adverse_event.record",
        target=event,
        patient=session.patient,
        detail={"kind": kind, "grade": grade},
    )
    if grade >= NOTIFY_GRADE:
        from kapstone.dosing import tasks

        transaction.on_commit(lambda: tasks.notify_prescriber_of_adverse_event(event.pk))
    return event


# ---------------------------------------------------------------------------------------------
# Discharge


def latest_readings(session: DosingSession) -> tuple[Reading, ...]:
    rows = session.readings.order_by("taken_at", "pk")
    return gates.latest(
        Reading(vitals.Vital(r.vital), r.value, r.unit, "", r.taken_at) for r in rows
    )


def discharge_facts(
    session: DosingSession,
    *,
    aldrete: Mapping[str, object],
    escort_present: bool,
    instructions_acknowledged: bool,
    now: datetime | None = None,
) -> gates.DischargeFacts:
    rule = protocols.library().route(session.route) if session.route else None
    return gates.DischargeFacts(
        dose_started_at=session.dose_started_at,
        now=now or timezone.now(),
        min_monitoring_minutes=rule.min_monitoring_minutes if rule else 0,
        monitoring_source=rule.monitoring_source if rule else "no route recorded",
        aldrete=aldrete,
        latest_readings=latest_readings(session),
        escort_present=bool(escort_present),
        instructions_acknowledged=bool(instructions_acknowledged),
        thresholds=queries.alert_thresholds(),
    )


@transaction.atomic
def discharge(
    *,
    by,
    session: DosingSession,
    aldrete: Mapping[str, object],
    escort_present: bool,
    instructions_acknowledged: bool,
    override_reason: str = "",
    now: datetime | None = None,
) -> Discharge:
    """Discharge when the gate allows it; otherwise refused with every reason, unless a
    prescriber overrides with a written reason."""
    check_permission(by, Permission.DOSING_RECORD)
    session = _lock(session)
    _require_status(session, {S.MONITORING, S.READY_FOR_DISCHARGE}, "be discharged")
    now = now or timezone.now()
    facts = discharge_facts(
        session,
        aldrete=aldrete,
        escort_present=escort_present,
        instructions_acknowledged=instructions_acknowledged,
        now=now,
    )
    overriding = bool((override_reason or "").strip())
    if overriding:
        check_permission(by, Permission.DOSING_OVERRIDE)
    overridden = gates.check_can_discharge(
        facts, override_by_prescriber=overriding, override_reason=override_reason or ""
    )
    score = gates.aldrete_score(aldrete)
    started = session.dose_started_at
    minutes = int((now - started).total_seconds() // 60) if started else 0
    row = Discharge.objects.create(
        session=session,
        **{f"aldrete_{name}": int(aldrete[name]) for name in gates.ALDRETE_ITEMS},
        aldrete_total=score,
        escort_present=facts.escort_present,
        instructions_acknowledged=facts.instructions_acknowledged,
        monitored_minutes=max(minutes, 0),
        override_by=by if overridden else None,
        override_reason=override_reason.strip() if overridden else "",
        overridden=[{"item": f.item, "message": f.message} for f in overridden],
        discharged_by=by,
        discharged_at=now,
    )
    if session.status == S.MONITORING:
        _move(session, S.READY_FOR_DISCHARGE, by)
    session.discharged_at = now
    session.status = S.DISCHARGED.value
    session.save(update_fields=["discharged_at", "status"])
    StatusChange.objects.create(
        session=session,
        from_status=S.READY_FOR_DISCHARGE.value,
        to_status=S.DISCHARGED.value,
        reason=row.override_reason,
        by=by,
    )
    record(
        actor=by,
        action="dosing.session.discharge",
        target=session,
        detail={"aldrete": score, "overridden": [f.item for f in overridden]},
    )
    return row


@transaction.atomic
def cancel_scheduled_session(*, by, session: DosingSession, reason: str) -> DosingSession:
    """Cancels a session that has not started, for whoever keeps the schedule (who may not
    record dosing). Once the patient has checked in it is the nurses' to hold or abort."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    session = _lock(session)
    _require_status(session, {S.SCHEDULED}, "be cancelled from the schedule")
    new = check_transition(session.status, S.CANCELLED.value, reason=reason)
    before = session.status
    _move(session, new, by, reason)
    record(
        actor=by,
        action="dosing.session.status",
        target=session,
        detail={"from": before, "to": new.value, "reason": bool(reason.strip())},
    )
    return session


@transaction.atomic
def reschedule_session(*, by, session: DosingSession, scheduled_start: datetime) -> DosingSession:
    """Moves a session that has not started to a new time, for whoever keeps the schedule.
    Once the patient has checked in the session happens where it is."""
    check_permission(by, Permission.SCHEDULE_MANAGE)
    if scheduled_start is None:
        raise InvalidInput("scheduled_start", "is required")
    session = _lock(session)
    _require_status(session, {S.SCHEDULED}, "be moved")
    before = session.scheduled_start
    session.scheduled_start = scheduled_start
    session.save(update_fields=["scheduled_start"])
    record(
        actor=by,
        action="dosing.session.reschedule",
        target=session,
        patient=session.patient,
        detail={"fields": ["scheduled_start"], "moved": before != scheduled_start},
    )
    return session
