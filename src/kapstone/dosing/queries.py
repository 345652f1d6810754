"""Reads for the dosing pages: the nurse-station board in a fixed number of queries, one
session's timeline, and the monitoring schedule (vitals intervals, CADSS times) with the
clinic's own settings."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from kapstone.assessments.models import Assessment
from kapstone.core.models import Organization
from kapstone.core.prepared import Prepared
from kapstone.dosing import gates
from kapstone.dosing.models import DosingSession, VitalAlert, VitalReading
from kapstone.dosing.rules import DOSED, UNDER_WAY, SessionStatus
from kapstone.monitoring import schedule, vitals
from kapstone.monitoring.vitals import Vital

CADSS = "cadss"
DUE_VITALS = (Vital.SYSTOLIC_BP, Vital.HEART_RATE, Vital.SPO2, Vital.RESPIRATORY_RATE)
BOARD_VITALS = (
    Vital.SYSTOLIC_BP,
    Vital.DIASTOLIC_BP,
    Vital.HEART_RATE,
    Vital.SPO2,
    Vital.RESPIRATORY_RATE,
    Vital.MOAAS,
)


# The clinic's settings are read on every stored reading (a monitor sends a message every few
# seconds a bed), so the row is read through prepared SQL and each settings version is parsed
# once.
_CLINIC_SETTINGS = Prepared(
    lambda: Organization.objects.order_by("pk").values_list("settings_overrides")[:1], arity=0
)


def clinic_monitoring() -> dict:
    """The clinic's "monitoring" settings section ({} when it has none)."""
    found = _CLINIC_SETTINGS.rows()
    return dict(((found[0][0] or {}) if found else {}).get("monitoring") or {})


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@lru_cache(maxsize=8)
def _thresholds(changes: str) -> dict:
    return vitals.thresholds(json.loads(changes))


def alert_thresholds(monitoring: dict | None = None) -> dict:
    """The vital-sign alert thresholds (monitoring/data/vitals.toml, each cited) with the
    clinic's "monitoring.thresholds" changes, checked."""
    monitoring = clinic_monitoring() if monitoring is None else monitoring
    return _thresholds(_key(monitoring.get("thresholds")))


def pre_dose_rules() -> gates.PreDoseRules:
    """The pre-dose rules with the clinic's "monitoring.pre_dose" settings and thresholds."""
    monitoring = clinic_monitoring()
    return gates.pre_dose_rules(monitoring.get("pre_dose"), limits=alert_thresholds(monitoring))


def monitoring_schedule() -> schedule.Schedule:
    """The vitals intervals and CADSS times: the reviewed defaults (monitoring/data/
    schedule.toml) with the clinic's own settings, checked."""
    return schedule.schedule(clinic_monitoring())


def cadss_ratings(patient_ids, since: datetime) -> dict[int, list[schedule.Rating]]:
    """The CADSS ratings of these patients answered since a time, by patient, in one query."""
    out: dict[int, list[schedule.Rating]] = {}
    rows = (
        Assessment.objects.filter(
            patient_id__in=list(patient_ids), instrument=CADSS, answered_at__gte=since
        )
        .order_by("answered_at", "pk")
        .values_list("patient_id", "answered_at", "total")
    )
    for patient_id, answered_at, total in rows:
        out.setdefault(patient_id, []).append(schedule.Rating(answered_at, total))
    return out


def cadss_for(
    session: DosingSession,
    plan: schedule.Schedule,
    ratings: list[schedule.Rating],
    now: datetime,
) -> list[schedule.CadssTime]:
    """The session's CADSS times, once the dose has started and until it ends."""
    if session.dose_started_at is None or not _monitored(session):
        return []
    return schedule.cadss_times(
        plan, dose_started_at=session.dose_started_at, now=now, ratings=ratings
    )


def _monitored(session: DosingSession) -> bool:
    return session.status in DOSED or (
        session.status == SessionStatus.HELD and session.dose_started_at is not None
    )


@dataclass(frozen=True)
class Latest:
    value: Decimal
    taken_at: datetime


@dataclass
class BoardRow:
    session: DosingSession
    latest: dict[str, Latest] = field(default_factory=dict)
    minutes_since_dose: int | None = None
    overdue: list[str] = field(default_factory=list)
    # Open (unacknowledged) alerts.
    alerts: int = 0
    interval: int | None = None
    cadss: list[schedule.CadssTime] = field(default_factory=list)

    @property
    def cadss_wanted(self) -> list[schedule.CadssTime]:
        return [t for t in self.cadss if t.wanted]

    @property
    def blood_pressure(self) -> str:
        s, d = self.latest.get("systolic_bp"), self.latest.get("diastolic_bp")
        return f"{s.value.normalize():f}/{d.value.normalize():f}" if s and d else "—"

    @property
    def shown(self) -> dict[str, str]:
        """Each board vital's latest value as text ("—" when none)."""
        return {
            v.value: f"{self.latest[v.value].value.normalize():f}"
            if v.value in self.latest
            else "—"
            for v in BOARD_VITALS
        }


def _latest(vital: Vital, column: str) -> Subquery:
    return Subquery(
        VitalReading.objects.filter(session=OuterRef("pk"), vital=vital.value)
        .order_by("-taken_at", "-pk")
        .values(column)[:1]
    )


def board(
    site_id: int | None = None,
    now: datetime | None = None,
    session_ids=None,
    plan: schedule.Schedule | None = None,
) -> list[BoardRow]:
    """Every session under way: latest vitals, minutes since the dose, overdue vitals, the
    number of open alerts and the CADSS due, in the same few queries whatever the number of
    sessions (the sessions, each latest value an index lookup on the session, vital and time;
    then the CADSS ratings of all their patients at once)."""
    now = now or timezone.now()
    plan = plan or monitoring_schedule()
    latest = {}
    for vital in BOARD_VITALS:
        latest[f"last_{vital.value}"] = _latest(vital, "value")
        latest[f"at_{vital.value}"] = _latest(vital, "taken_at")
    sessions = (
        DosingSession.objects.filter(status__in=[s.value for s in UNDER_WAY])
        .select_related("patient", "room", "administration")
        .annotate(
            alert_count=Subquery(
                VitalAlert.objects.filter(session=OuterRef("pk"), acknowledged_at__isnull=True)
                .order_by()
                .values("session")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
            **latest,
        )
        .order_by("scheduled_start", "pk")
    )
    if site_id is not None:
        sessions = sessions.filter(site_id=site_id)
    if session_ids is not None:
        sessions = sessions.filter(pk__in=session_ids)
    sessions = list(sessions)
    dosed_at = [s.dose_started_at for s in sessions if s.dose_started_at and _monitored(s)]
    ratings = cadss_ratings({s.patient_id for s in sessions}, min(dosed_at)) if dosed_at else {}
    rows = []
    for session in sessions:
        row = BoardRow(session=session, alerts=session.alert_count or 0)
        for vital in BOARD_VITALS:
            value = getattr(session, f"last_{vital.value}")
            if value is not None:
                row.latest[vital.value] = Latest(
                    Decimal(value), getattr(session, f"at_{vital.value}")
                )
        started = session.dose_started_at
        if started is not None:
            row.minutes_since_dose = int((now - started).total_seconds() // 60)
        if _monitored(session):
            administration = getattr(session, "administration", None)
            row.interval = schedule.vitals_interval(
                plan,
                now=now,
                dose_stopped_at=administration.stopped_at if administration else None,
            )
            last = {v: getattr(row.latest.get(v.value), "taken_at", None) for v in DUE_VITALS}
            row.overdue = [v.value for v in vitals.readings_overdue(last, row.interval, now)]
            row.cadss = cadss_for(session, plan, ratings.get(session.patient_id, []), now)
        rows.append(row)
    return rows


def timeline(session: DosingSession) -> list[tuple[datetime, str, str]]:
    """Everything that happened in a session, in time order: (when, what, detail)."""
    events: list[tuple[datetime, str, str]] = []
    for change in session.changes.select_related("by"):
        label = SessionStatus(change.to_status).label
        detail = change.by.display_name + (f" · {change.reason}" if change.reason else "")
        events.append((change.at, f"Status: {label}", detail))
    for check in session.pre_dose_checks.select_related("recorded_by", "reviewed_by"):
        items = ", ".join(f["item"] for f in check.findings) or "nothing found"
        events.append((check.recorded_at, f"Pre-dose check: {check.get_outcome_display()}", items))
        if check.reviewed_by:
            events.append(
                (
                    check.recorded_at,
                    "Prescriber review",
                    f"{check.reviewed_by.display_name} · {check.review_reason}",
                )
            )
    administration = getattr(session, "administration", None)
    if administration is not None:
        events.append(
            (
                administration.started_at,
                "Dose given",
                (
                    f"{administration.drug} {administration.dose_mg.normalize():f} mg "
                    f"{administration.route}, lot {administration.lot}; given by "
                    f"{administration.given_by.display_name}, witnessed by "
                    f"{administration.witness.display_name}"
                ),
            )
        )
    readings = list(session.readings.order_by("taken_at", "pk"))
    by_time: dict[datetime, list[VitalReading]] = {}
    for reading in readings:
        by_time.setdefault(reading.taken_at, []).append(reading)
    for when, group in by_time.items():
        text = ", ".join(f"{r.vital} {r.value.normalize():f} {r.unit}" for r in group)
        events.append((when, f"Vitals ({group[0].get_source_display().lower()})", text))
    for alert in session.alerts.select_related("reading", "acknowledged_by"):
        text = f"{alert.reading.vital} {alert.rule} {alert.limit.normalize():f}"
        if alert.acknowledged_by:
            when = timezone.localtime(alert.acknowledged_at).strftime("%H:%M")
            text += (
                f"; acknowledged by {alert.acknowledged_by.display_name} at {when}: "
                f"{alert.action_taken}"
            )
        else:
            text += "; not acknowledged"
        events.append((alert.reading.taken_at, "Alert", text))
    for event in session.adverse_events.all():
        events.append(
            (
                event.onset_at,
                f"Adverse event: {event.get_kind_display()} (grade {event.grade})",
                f"{event.action} · {event.outcome}",
            )
        )
    discharge = getattr(session, "discharge", None)
    if discharge is not None:
        text = f"Aldrete {discharge.aldrete_total}, monitored {discharge.monitored_minutes} min"
        if discharge.override_by:
            text += f"; overridden by {discharge.override_by.display_name}: "
            text += discharge.override_reason
        events.append((discharge.discharged_at, "Discharged", text))
    events.sort(key=lambda e: e[0])
    return events


def rems_data(session: DosingSession) -> dict | None:
    """The Spravato REMS Patient Monitoring Form's data for an esketamine session
    (clinical-facts.md §2.1); None for other routes."""
    if session.route != "in_esketamine":
        return None
    administration = getattr(session, "administration", None)
    discharge = getattr(session, "discharge", None)
    bp = [
        r
        for r in session.readings.filter(vital__in=["systolic_bp", "diastolic_bp"]).order_by(
            "taken_at", "pk"
        )
    ]

    def pair_at(predicate):
        chosen = {}
        for r in bp:
            if predicate(r.taken_at):
                chosen[r.vital] = r
        s, d = chosen.get("systolic_bp"), chosen.get("diastolic_bp")
        return f"{s.value.normalize():f}/{d.value.normalize():f}" if s and d else "not recorded"

    started = session.dose_started_at
    first_treatment = (
        not DosingSession.objects.filter(
            patient=session.patient,
            route="in_esketamine",
            dose_started_at__lt=started or timezone.now(),
        )
        .exclude(pk=session.pk)
        .exists()
    )
    at_40 = (started + timedelta(minutes=40)) if started else None
    checks = list(session.pre_dose_checks.all())
    return {
        "treatment_date": started.date() if started else None,
        "first_treatment": first_treatment,
        "dose_mg": administration.dose_mg if administration else None,
        "lot": administration.lot if administration else "",
        "duration_minutes": discharge.monitored_minutes if discharge else None,
        "bp_pre_dose": pair_at(lambda t: started is not None and t <= started),
        "bp_40_minutes": pair_at(
            lambda t: at_40 is not None and started < t <= at_40 + timedelta(minutes=10)
        ),
        "bp_before_completion": pair_at(lambda t: True),
        "vitals_acceptable_before": bool(checks) and checks[-1].outcome == "clear",
        "vitals_acceptable_at_completion": discharge is not None
        and not any(o["item"] in {v.value for v in Vital} for o in discharge.overridden),
        "sedation": session.adverse_events.filter(kind="sedation").exists()
        or session.readings.filter(vital="moaas", value__lt=5).exists(),
        "dissociation": session.adverse_events.filter(kind="dissociation").exists(),
        "respiratory_depression": session.adverse_events.filter(
            kind="respiratory_depression"
        ).exists(),
    }
