"""Every write to questionnaire scores, risk alerts and check-ins goes through these functions.

Each checks who is acting, validates every answer at once (naming the item and the rule,
never the answer), writes in one transaction and records one audit event. Scoring is
kapstone.clinical.instruments: a total is always computed here, never taken from the caller.
"""

import logging
import secrets
import smtplib
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kapstone.access.roles import Permission
from kapstone.assessments import schedule_rules
from kapstone.assessments.models import (
    Assessment,
    CheckIn,
    CheckInSchedule,
    RiskAlert,
    Timepoint,
)
from kapstone.audit.recording import record
from kapstone.clinical import instruments
from kapstone.core.links import derived_token, token_hash
from kapstone.core.models import Organization
from kapstone.core.permissions import check_permission
from kapstone.errors import DomainError, InvalidInput, InvalidInputs
from kapstone.patients.models import Patient

log = logging.getLogger(__name__)

# A clock a few minutes fast on a phone or a server must not turn a real answer into an error.
FUTURE_TOLERANCE = timedelta(minutes=5)


class CheckInUnavailable(DomainError):
    """The link is unknown, used, expired or cancelled. The message is the same for each, so
    the page answering a stranger's guess says nothing about whether a link exists."""

    def __init__(self):
        super().__init__("this questionnaire link is no longer open")


def _instrument(instrument: str, field: str = "instrument") -> instruments.Instrument:
    try:
        return instruments.get(instrument)
    except InvalidInput:
        raise InvalidInput(field, "is not an instrument Kapstone knows") from None


def _timepoint(value: str) -> str:
    if value not in Timepoint.values:
        raise InvalidInput("timepoint", "is not a known point in the treatment")
    return value


def _answered_at(value: datetime | None, patient: Patient) -> datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise InvalidInput("answered_at", "must include a time zone")
    if value > now + FUTURE_TOLERANCE:
        raise InvalidInput("answered_at", "cannot be in the future")
    if value.date() < patient.date_of_birth:
        raise InvalidInput("answered_at", "cannot be before the patient's date of birth")
    return value


def score_answers(
    instrument: str, answers: Mapping[str, Any], context: Mapping[str, bool] | None = None
) -> instruments.Score:
    """Validate every answer (raising them all together) and score."""
    inst = _instrument(instrument)
    if errors := instruments.validate_answers(inst, answers):
        raise InvalidInputs(errors)
    try:
        return instruments.score(inst, answers, context=context or {})
    except InvalidInput as error:
        raise InvalidInputs([error]) from None


def _store(
    *,
    patient: Patient,
    result: instruments.Score,
    answers: Mapping[str, Any],
    context: Mapping[str, bool] | None,
    answered_at: datetime,
    timepoint: str,
    source: str,
    entered_by=None,
    checkin: CheckIn | None = None,
) -> tuple[Assessment, list[RiskAlert]]:
    flags = [
        {"code": f.code, "urgent": f.urgent, "detail": f.detail, "level": f.level}
        for f in result.flags
    ]
    assessment = Assessment.objects.create(
        patient=patient,
        instrument=result.instrument,
        definition_version=result.version,
        answered_at=answered_at,
        timepoint=timepoint,
        source=source,
        entered_by=entered_by,
        checkin=checkin,
        answers={key: value for key, value in answers.items()},
        context=dict(context or {}),
        item_scores=dict(result.item_scores),
        total=result.total,
        max_total=result.max_total,
        complete=result.complete,
        band_code=result.band.id if result.band else "",
        band_label=result.band.label if result.band else "",
        subscales=dict(result.subscales),
        flags=flags,
        extra=_json_ready(result.extra),
    )
    alerts = [
        RiskAlert.objects.create(
            patient=patient,
            assessment=assessment,
            code=flag.code,
            detail=flag.detail[:200],
            level=flag.level or "",
            raised_at=timezone.now(),
        )
        for flag in result.flags
        if flag.urgent
    ]
    if alerts:
        _notify_on_commit([alert.pk for alert in alerts])
    return assessment, alerts


def _json_ready(value):
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _notify_on_commit(alert_ids: list[int]) -> None:
    # The worker sends the e-mails once the alert is committed; the dashboard shows it at once.
    from kapstone.assessments import tasks

    def send():
        for alert_id in alert_ids:
            tasks.notify_clinicians_of_alert(alert_id)

    transaction.on_commit(send)


@transaction.atomic
def record_assessment(
    *,
    by,
    patient: Patient,
    instrument: str,
    answers: Mapping[str, Any],
    answered_at: datetime | None = None,
    timepoint: str = Timepoint.OTHER,
    context: Mapping[str, bool] | None = None,
    source: str = Assessment.Source.CLINICIAN,
) -> Assessment:
    """A member of staff enters a rating (a clinician-rated scale, or the numbers from a
    licensed or paper form), or a system of theirs sends one (FHIR)."""
    check_permission(by, Permission.ASSESSMENT_RECORD)
    if source not in (Assessment.Source.CLINICIAN, Assessment.Source.FHIR):
        raise InvalidInput("source", "must be a staff entry or a FHIR response")
    errors: list[InvalidInput] = []
    try:
        timepoint = _timepoint(timepoint)
    except InvalidInput as error:
        errors.append(error)
    try:
        answered_at = _answered_at(answered_at, patient)
    except InvalidInput as error:
        errors.append(error)
    try:
        result = score_answers(instrument, answers, context)
    except InvalidInputs as invalid:
        errors.extend(invalid.errors)
    except InvalidInput as error:
        errors.append(error)
    if errors:
        raise InvalidInputs(errors)
    assessment, alerts = _store(
        patient=patient,
        result=result,
        answers=answers,
        context=context,
        answered_at=answered_at,
        timepoint=timepoint,
        source=source,
        entered_by=by,
    )
    record(
        actor=by,
        action="assessment.create",
        target=assessment,
        patient=patient,
        detail={
            "instrument": assessment.instrument,
            "source": source,
            "alerts": [alert.code for alert in alerts],
        },
    )
    return assessment


@transaction.atomic
def acknowledge_alert(*, by, alert: RiskAlert, action: str, note: str = "") -> RiskAlert:
    """A clinician has seen the alert and says what was done. The alert then leaves the
    dashboard; it and the action stay on the patient's record."""
    check_permission(by, Permission.ALERT_ACKNOWLEDGE)
    alert = RiskAlert.objects.select_for_update().get(pk=alert.pk)
    errors = []
    if alert.status != RiskAlert.Status.OPEN:
        raise InvalidInput("alert", "has already been acknowledged")
    if action not in RiskAlert.Action.values:
        errors.append(InvalidInput("action", "must be one of the listed actions"))
    note = (note or "").strip()
    if action == RiskAlert.Action.OTHER and not note:
        errors.append(InvalidInput("action_note", "must describe the action when it is 'Other'"))
    if errors:
        raise InvalidInputs(errors)
    alert.status = RiskAlert.Status.ACKNOWLEDGED
    alert.acknowledged_by = by
    alert.acknowledged_at = timezone.now()
    alert.action = action
    alert.action_note = note
    alert.save(
        update_fields=["status", "acknowledged_by", "acknowledged_at", "action", "action_note"]
    )
    record(
        actor=by,
        action="alert.acknowledge",
        target=alert,
        patient=alert.patient,
        detail={"code": alert.code, "action": action},
    )
    return alert


# Check-in links


def link_token(checkin: CheckIn) -> str:
    """The token in the check-in's link, derived again from its nonce (for a reminder)."""
    return _token_for(checkin.nonce)


def _token_for(nonce: str) -> str:
    return derived_token("checkin", nonce)


def _checkin_instruments(values) -> list[str]:
    """Only instruments a patient answers alone, with wording Kapstone may show."""
    chosen = [value for value in dict.fromkeys(values or []) if value]
    if not chosen:
        raise InvalidInput("instruments", "choose at least one questionnaire")
    for value in chosen:
        inst = _instrument(value, "instruments")
        if inst.rated_by is not instruments.RatedBy.PATIENT or not inst.licence.text_may_ship:
            raise InvalidInput(
                "instruments",
                f"the {inst.short_name} cannot be sent: patients answer only questionnaires "
                "whose wording Kapstone may show",
            )
    return chosen


def sendable_instruments() -> list[instruments.Instrument]:
    return [
        inst
        for inst in instruments.all_instruments()
        if inst.rated_by is instruments.RatedBy.PATIENT and inst.licence.text_may_ship
    ]


def _new_checkin(
    *,
    patient: Patient,
    instrument_ids: list[str],
    due_at: datetime,
    timepoint: str,
    created_by=None,
    schedule: CheckInSchedule | None = None,
    occurrence: str = "",
    expires_at: datetime | None = None,
) -> tuple[CheckIn, str]:
    config = Organization.current().config.checkins
    nonce = secrets.token_hex(16)
    token = _token_for(nonce)
    checkin = CheckIn.objects.create(
        patient=patient,
        instruments=instrument_ids,
        nonce=nonce,
        token_hash=token_hash(token),
        timepoint=timepoint,
        due_at=due_at,
        expires_at=expires_at or due_at + timedelta(hours=int(config["link_valid_hours"])),
        created_by=created_by,
        schedule=schedule,
        occurrence=occurrence,
    )
    return checkin, token


@transaction.atomic
def send_checkin(
    *,
    by,
    patient: Patient,
    instruments: list[str],
    timepoint: str = Timepoint.OTHER,
    email: bool = True,
) -> tuple[CheckIn, str]:
    """Make a link now. Returns the check-in and its token: the token is shown to the sender
    once (to read out or text) and e-mailed when asked; only its hash is kept."""
    check_permission(by, Permission.CHECKIN_SEND)
    errors = []
    chosen: list[str] = []
    try:
        chosen = _checkin_instruments(instruments)
    except InvalidInput as error:
        errors.append(error)
    try:
        timepoint = _timepoint(timepoint)
    except InvalidInput as error:
        errors.append(error)
    if email and not patient.email:
        errors.append(InvalidInput("email", "the patient has no e-mail address on file"))
    if errors:
        raise InvalidInputs(errors)
    checkin, token = _new_checkin(
        patient=patient,
        instrument_ids=chosen,
        due_at=timezone.now(),
        timepoint=timepoint,
        created_by=by,
    )
    record(
        actor=by,
        action="checkin.send",
        target=checkin,
        patient=patient,
        detail={"instruments": chosen, "email": bool(email)},
    )
    if email:
        from kapstone.assessments import tasks

        transaction.on_commit(lambda: tasks.email_checkin(checkin.pk))
    return checkin, token


def open_checkin(token: str, *, now: datetime | None = None) -> CheckIn:
    """The pending check-in behind a link, or CheckInUnavailable."""
    now = now or timezone.now()
    checkin = CheckIn.objects.select_related("patient").filter(token_hash=token_hash(token)).first()
    if checkin is None or checkin.status != CheckIn.Status.PENDING or checkin.expires_at <= now:
        raise CheckInUnavailable()
    return checkin


@transaction.atomic
def submit_checkin(
    *, token: str, answers: Mapping[str, Mapping[str, Any]]
) -> tuple[CheckIn, list[Assessment], list[RiskAlert]]:
    """The patient's answers, keyed by instrument then item. Every questionnaire on the link
    is validated before anything is stored; the link is then used up."""
    checkin = open_checkin(token)
    checkin = CheckIn.objects.select_for_update().get(pk=checkin.pk)
    if checkin.status != CheckIn.Status.PENDING:
        raise CheckInUnavailable()
    results = {}
    errors: list[InvalidInput] = []
    for instrument_id in checkin.instruments:
        given = answers.get(instrument_id, {})
        try:
            results[instrument_id] = score_answers(instrument_id, given)
        except InvalidInputs as invalid:
            errors.extend(
                InvalidInput(f"{instrument_id}.{error.field}", error.message)
                for error in invalid.errors
            )
    if errors:
        raise InvalidInputs(errors)
    now = timezone.now()
    stored, alerts = [], []
    for instrument_id, result in results.items():
        assessment, raised = _store(
            patient=checkin.patient,
            result=result,
            answers=answers.get(instrument_id, {}),
            context=None,
            answered_at=now,
            timepoint=checkin.timepoint,
            source=Assessment.Source.CHECKIN,
            checkin=checkin,
        )
        stored.append(assessment)
        alerts.extend(raised)
    checkin.status = CheckIn.Status.COMPLETED
    checkin.completed_at = now
    checkin.save(update_fields=["status", "completed_at"])
    record(
        actor=None,
        action="checkin.complete",
        target=checkin,
        patient=checkin.patient,
        detail={
            "instruments": list(checkin.instruments),
            "alerts": [alert.code for alert in alerts],
        },
    )
    return checkin, stored, alerts


@transaction.atomic
def cancel_checkin(*, by, checkin: CheckIn) -> None:
    check_permission(by, Permission.CHECKIN_SEND)
    checkin = CheckIn.objects.select_for_update().get(pk=checkin.pk)
    if checkin.status != CheckIn.Status.PENDING:
        raise InvalidInput("checkin", "is no longer waiting for answers")
    checkin.status = CheckIn.Status.CANCELLED
    checkin.save(update_fields=["status"])
    record(actor=by, action="checkin.cancel", target=checkin, patient=checkin.patient)


# ---------------------------------------------------------------------------------------------
# Check-in schedules, and the worker's runs over them
#
# A schedule is set by a person (create_schedule, end_schedule); the worker turns it into
# check-ins as they fall due (materialize_due_checkins), closes links past their time
# (expire_checkins) and sends one reminder per overdue check-in (send_reminders). The worker's
# actions take the moment to act for (``now``) so a run is repeatable, and record their audit
# events with no actor: the system did it. A run that finds nothing to do writes nothing.

# The most hours a schedule may be offset from a dosing session: four weeks.
MAX_OFFSET_HOURS = 24 * 28


def _rules(config: Mapping[str, Any]) -> schedule_rules.Rules:
    return schedule_rules.Rules(
        link_valid=timedelta(hours=int(config["link_valid_hours"])),
        weekly_at=time.fromisoformat(str(config["weekly_time"])),
        tz=timezone.get_current_timezone(),
    )


def default_plan() -> list[dict[str, Any]]:
    """The schedules the clinic offers first (``[checkins]`` in the clinic settings): one
    questionnaire before every dosing session and at each listed time after it."""
    config = Organization.current().config.checkins
    instrument_ids = [config["default_instrument"]]
    plan = [
        {
            "kind": CheckInSchedule.Kind.BEFORE_DOSING,
            "offset_hours": int(config["pre_dose_hours_before"]),
            "instruments": instrument_ids,
        }
    ]
    plan += [
        {
            "kind": CheckInSchedule.Kind.AFTER_DOSING,
            "offset_hours": int(hours),
            "instruments": instrument_ids,
        }
        for hours in config["after_dosing_hours"]
    ]
    return plan


def _schedule_offset(kind: str, offset_hours: int | None) -> int:
    if kind == CheckInSchedule.Kind.WEEKLY:
        if offset_hours:
            raise InvalidInput("offset_hours", "must be left blank for a weekly schedule")
        return 0
    if kind == CheckInSchedule.Kind.BEFORE_DOSING and offset_hours is None:
        return int(Organization.current().config.checkins["pre_dose_hours_before"])
    if offset_hours is None or not 1 <= offset_hours <= MAX_OFFSET_HOURS:
        raise InvalidInput(
            "offset_hours", f"must be a whole number of hours from 1 to {MAX_OFFSET_HOURS}"
        )
    return offset_hours


@transaction.atomic
def create_schedule(
    *,
    by,
    patient: Patient,
    kind: str,
    instruments: list[str],
    offset_hours: int | None = None,
    starts_on: date | None = None,
) -> CheckInSchedule:
    """Questionnaires on a rhythm: before every dosing session (``offset_hours`` before it;
    the clinic's default when not given), a number of hours after every session, or weekly
    from ``starts_on``. Links go by e-mail, so the patient needs an address on file."""
    check_permission(by, Permission.CHECKIN_SEND)
    errors: list[InvalidInput] = []
    chosen: list[str] = []
    try:
        chosen = _checkin_instruments(instruments)
    except InvalidInput as error:
        errors.append(error)
    offset = 0
    if kind not in CheckInSchedule.Kind.values:
        errors.append(InvalidInput("kind", "must be one of the listed kinds of schedule"))
    else:
        try:
            offset = _schedule_offset(kind, offset_hours)
        except InvalidInput as error:
            errors.append(error)
    today = timezone.localdate()
    if starts_on is None:
        starts_on = today
    elif starts_on < today - timedelta(days=7):
        errors.append(InvalidInput("starts_on", "cannot be more than a week ago"))
    if not patient.email:
        errors.append(
            InvalidInput("email", "the patient has no e-mail address on file (links go by e-mail)")
        )
    if errors:
        raise InvalidInputs(errors)
    schedule = CheckInSchedule.objects.create(
        patient=patient,
        instruments=chosen,
        kind=kind,
        offset_hours=offset,
        starts_on=starts_on,
        created_by=by,
    )
    record(
        actor=by,
        action="checkin.schedule_create",
        target=schedule,
        patient=patient,
        detail={"kind": kind, "offset_hours": offset, "instruments": chosen},
    )
    return schedule


@transaction.atomic
def end_schedule(*, by, schedule: CheckInSchedule) -> CheckInSchedule:
    """No new check-ins from now; links already sent stay open until they close."""
    check_permission(by, Permission.CHECKIN_SEND)
    schedule = CheckInSchedule.objects.select_for_update().get(pk=schedule.pk)
    if schedule.ended_at is not None:
        raise InvalidInput("schedule", "has already ended")
    schedule.ended_at = timezone.now()
    schedule.save(update_fields=["ended_at"])
    record(
        actor=by,
        action="checkin.schedule_end",
        target=schedule,
        patient=schedule.patient,
        detail={"kind": schedule.kind},
    )
    return schedule


def _dosing_sessions(patient_ids, window) -> list[schedule_rules.Session]:
    # Looked up by name: the dosing app is its own area and may not be installed everywhere.
    try:
        dosing_session = apps.get_model("dosing", "DosingSession")
    except LookupError:
        return []
    earliest, latest = window
    rows = (
        dosing_session.objects.filter(
            patient_id__in=patient_ids,
            scheduled_start__gte=earliest,
            scheduled_start__lte=latest,
        )
        .exclude(status="cancelled")
        .values_list("pk", "patient_id", "scheduled_start")
    )
    return [schedule_rules.Session(pk, patient_id, start) for pk, patient_id, start in rows]


def materialize_due_checkins(now: datetime | None = None) -> list[CheckIn]:
    """The worker's run: make every scheduled check-in that has fallen due and is still open,
    once, and e-mail its link. Safe to run again at once or concurrently: the occurrence key
    is unique per schedule."""
    now = now or timezone.now()
    config = Organization.current().config.checkins
    rules = _rules(config)
    rows = list(
        CheckInSchedule.objects.select_related("patient").filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=now - rules.link_valid)
        )
    )
    if not rows:
        return []
    schedules = [
        schedule_rules.Schedule(
            id=row.pk,
            patient_id=row.patient_id,
            kind=row.kind,
            offset_hours=row.offset_hours,
            starts_on=row.starts_on,
            ended_at=row.ended_at,
            instruments=tuple(row.instruments),
        )
        for row in rows
    ]
    window = schedule_rules.session_window(schedules, now, rules)
    sessions = (
        _dosing_sessions({s.patient_id for s in schedules if s.kind != "weekly"}, window)
        if window
        else []
    )
    existing: dict[int, set[str]] = {}
    for schedule_id, key in CheckIn.objects.filter(
        schedule_id__in=[s.id for s in schedules],
        due_at__gte=now - rules.link_valid - timedelta(days=1),
    ).values_list("schedule_id", "occurrence"):
        existing.setdefault(schedule_id, set()).add(key)
    by_id = {row.pk: row for row in rows}
    made = []
    for occurrence in schedule_rules.due_occurrences(schedules, sessions, existing, now, rules):
        schedule = by_id[occurrence.schedule_id]
        try:
            with transaction.atomic():
                checkin, _token = _new_checkin(
                    patient=schedule.patient,
                    instrument_ids=list(occurrence.instruments),
                    due_at=occurrence.due_at,
                    expires_at=occurrence.expires_at,
                    timepoint=occurrence.timepoint,
                    schedule=schedule,
                    occurrence=occurrence.key,
                )
                record(
                    actor=None,
                    action="checkin.schedule_run",
                    target=checkin,
                    patient=schedule.patient,
                    detail={
                        "schedule": schedule.pk,
                        "kind": schedule.kind,
                        "timepoint": occurrence.timepoint,
                        "instruments": list(occurrence.instruments),
                    },
                )
                if schedule.patient.email:
                    _email_on_commit(checkin.pk)
        except IntegrityError:
            # Another run made this occurrence between our read and our write.
            continue
        made.append(checkin)
    return made


def _email_on_commit(checkin_id: int) -> None:
    from kapstone.assessments import tasks

    transaction.on_commit(lambda: tasks.email_checkin(checkin_id))


@transaction.atomic
def expire_checkins(now: datetime | None = None) -> int:
    """The worker's run: links past their closing time are marked expired."""
    now = now or timezone.now()
    due = list(
        CheckIn.objects.select_for_update().filter(
            status=CheckIn.Status.PENDING, expires_at__lte=now
        )
    )
    for checkin in due:
        checkin.status = CheckIn.Status.EXPIRED
        checkin.save(update_fields=["status"])
        record(
            actor=None,
            action="checkin.expire",
            target=checkin,
            detail={"answered": False, "reminded": checkin.reminded_at is not None},
        )
    return len(due)


def send_reminders(now: datetime | None = None) -> int:
    """The worker's run: one reminder, with the same link, for each e-mailed check-in still
    unanswered ``overdue_after_hours`` after it fell due. A link that was not e-mailed (read
    out or texted by staff) gets no e-mail reminder. A send that fails is tried again on the
    next run; one that succeeded is never repeated."""
    from kapstone.assessments import tasks

    now = now or timezone.now()
    overdue = timedelta(hours=int(Organization.current().config.checkins["overdue_after_hours"]))
    candidates = CheckIn.objects.filter(
        status=CheckIn.Status.PENDING,
        emailed_at__isnull=False,
        reminded_at__isnull=True,
        due_at__lte=now - overdue,
        expires_at__gt=now,
    ).values_list("pk", flat=True)
    sent = 0
    for checkin_id in list(candidates):
        try:
            with transaction.atomic():
                checkin = (
                    CheckIn.objects.select_for_update()
                    .select_related("patient")
                    .filter(pk=checkin_id, status=CheckIn.Status.PENDING, reminded_at__isnull=True)
                    .first()
                )
                if checkin is None or not checkin.patient.email:
                    continue
                tasks.send_reminder_mail(checkin)
                checkin.reminded_at = now
                checkin.save(update_fields=["reminded_at"])
                record(actor=None, action="checkin.remind", target=checkin, detail={})
        except (smtplib.SMTPException, OSError):
            log.exception("check-in reminder %s not sent; the next run tries again", checkin_id)
            continue
        sent += 1
    return sent
