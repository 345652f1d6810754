"""The clinic dashboard: who is alerting, who has a questionnaire due or overdue, who is
responding and who is in remission."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.assessments import episodes
from kapstone.assessments.models import Assessment, CheckIn, RiskAlert
from kapstone.audit.recording import record_reads
from kapstone.clinical import instruments
from kapstone.core.models import Organization
from kapstone.core.permissions import requires
from kapstone.patients.models import Patient

# Response and remission are shown for patients scored within this window: a course that
# stopped months ago is history, not a current standing.
RECENT_DAYS = 90


@dataclass
class Standing:
    """One patient's latest standing on one instrument against the episode's baseline."""

    patient: Patient
    instrument: str
    baseline: int
    latest: int
    answered_at: object
    response: bool | None
    remission: bool | None
    relapse: bool


@dataclass
class Dashboard:
    alerting: list = field(default_factory=list)
    due: list = field(default_factory=list)
    overdue: list = field(default_factory=list)
    responding: list[Standing] = field(default_factory=list)
    remission: list[Standing] = field(default_factory=list)


def _courses(config, since) -> list[tuple[int, str, list[tuple]]]:
    """(patient id, instrument, [(answered_at, total, timepoint)]) for every instrument with
    outcome rules scored since ``since``; one query."""
    with_rules = [inst.id for inst in instruments.all_instruments() if inst.outcomes]
    recent = Assessment.objects.filter(answered_at__gte=since).values("patient_id")
    rows = (
        Assessment.objects.filter(
            instrument__in=with_rules, total__isnull=False, patient_id__in=recent
        )
        .order_by("patient_id", "instrument", "answered_at", "id")
        .values_list("patient_id", "instrument", "answered_at", "total", "timepoint")
    )
    grouped: dict[tuple[int, str], list[tuple]] = {}
    for patient_id, instrument, answered_at, total, timepoint in rows:
        grouped.setdefault((patient_id, instrument), []).append((answered_at, total, timepoint))
    return [(pid, inst, points) for (pid, inst), points in grouped.items()]


def _standing(instrument: str, points: list[tuple], overrides) -> tuple | None:
    """Baseline total, latest point, its comparison and whether the course is in relapse;
    None until there is a follow-up to compare."""
    ep = episodes.episode(
        instrument,
        [episodes.Point(when, total, timepoint) for when, total, timepoint in points],
        overrides=overrides,
    )
    latest = ep.latest
    if ep.baseline is None or latest is None:
        return None
    point = ep.latest_point
    return ep.baseline.total, (point.at, point.total, point.timepoint), latest, ep.in_relapse


def build(now=None) -> Dashboard:
    now = now or timezone.now()
    config = Organization.current().config
    overdue_after = timedelta(hours=int(config.checkins["overdue_after_hours"]))
    board = Dashboard()
    board.alerting = list(
        RiskAlert.objects.filter(status=RiskAlert.Status.OPEN)
        .select_related("patient")
        .order_by("raised_at")
    )
    pending = list(
        CheckIn.objects.filter(status=CheckIn.Status.PENDING, due_at__lte=now)
        .select_related("patient")
        .order_by("due_at")
    )
    board.due = [c for c in pending if now < c.due_at + overdue_after]
    board.overdue = [c for c in pending if now >= c.due_at + overdue_after]

    standings = []
    for patient_id, instrument, points in _courses(config, now - timedelta(days=RECENT_DAYS)):
        overrides = config.outcomes_for(instrument)
        result = _standing(instrument, points, overrides)
        if result is None:
            continue
        baseline, (answered_at, total, _), latest, relapsed = result
        standings.append((patient_id, instrument, baseline, total, answered_at, latest, relapsed))
    patients = Patient.objects.in_bulk({row[0] for row in standings})
    for patient_id, instrument, baseline, total, answered_at, latest, relapsed in standings:
        standing = Standing(
            patient=patients[patient_id],
            instrument=instrument,
            baseline=baseline,
            latest=total,
            answered_at=answered_at,
            response=latest.response,
            remission=latest.remission,
            relapse=relapsed,
        )
        if latest.remission:
            board.remission.append(standing)
        elif latest.response:
            board.responding.append(standing)
    return board


@requires(P.PATIENT_VIEW_CLINICAL)
def dashboard(request):
    board = build()
    shown = {}
    for row in [*board.alerting, *board.due, *board.overdue]:
        shown[row.patient.pk] = row.patient
    for standing in [*board.responding, *board.remission]:
        shown[standing.patient.pk] = standing.patient
    record_reads(
        actor=request.user,
        action="patient.list",
        targets=shown.values(),
        detail={"list": "dashboard"},
    )
    short = {inst.id: inst.short_name for inst in instruments.all_instruments()}
    return render(
        request,
        "assessments/dashboard.html",
        {"board": board, "short": short, "recent_days": RECENT_DAYS},
    )


urlpatterns = [path("dashboard/", dashboard, name="dashboard")]
