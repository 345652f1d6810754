"""The worker's scheduling jobs: the retreat optimizer, which may take seconds."""

import logging
from datetime import time

from django.contrib.auth import get_user_model
from django.utils import timezone
from huey.contrib.djhuey import db_task

from kapstone.access.roles import Role
from kapstone.core.models import Room
from kapstone.credentials.queries import held_by
from kapstone.errors import DomainError
from kapstone.scheduling import actions, cohort, optimizer, rules, series
from kapstone.scheduling.models import RetreatRun, StaffHours

log = logging.getLogger(__name__)

SLOT_TIMES = (time(8), time(10, 30), time(13), time(15, 30))
SESSIONS_A_DAY = 4
CLINICAL_ROLES = {Role.PRESCRIBER, Role.NURSE, Role.THERAPIST}
TIME_LIMIT_SECONDS = 10.0


def build_cohort(run: RetreatRun, series_rules: series.SeriesRules | None = None) -> cohort.Cohort:
    """The cohort from the record: the patients' signed plans, the site's rooms and the staff
    with hours there, with their current credentials, under the clinic's integration window
    and dosing spacing."""
    patients = []
    for patient in run.patients.order_by("pk"):
        plan = actions.signed_plan(patient)
        modalities = list(plan.modalities or [])
        patients.append(
            cohort.Patient(
                key=str(patient.pk),
                dosings=plan.planned_dosing_sessions,
                route=plan.route,
                modality=modalities[0] if modalities else "",
            )
        )
    rooms = tuple(
        cohort.Room(str(room.pk), cohort.RoomKind(room.kind))
        for room in Room.objects.filter(site=run.site, active=True).order_by("pk")
        if room.kind in {kind.value for kind in cohort.RoomKind}
    )
    hours: dict[int, dict[int, tuple[time, time]]] = {}
    for row in StaffHours.objects.filter(site=run.site):
        day = hours.setdefault(row.staff_id, {})
        opens, closes = day.get(row.weekday, (row.start, row.end))
        day[row.weekday] = (min(opens, row.start), max(closes, row.end))
    staff = []
    for user in get_user_model().objects.filter(pk__in=hours, is_active=True).order_by("pk"):
        roles = frozenset(str(role) for role in user.roles if role in CLINICAL_ROLES)
        if not roles:
            continue
        held = tuple(
            rules.Credential(c.kind, expires=c.expires_on, issued=c.issued_on)
            for c in held_by(user)
        )
        staff.append(cohort.Staff(str(user.pk), roles, held, hours[user.pk], SESSIONS_A_DAY))
    return cohort.Cohort(
        start=run.start,
        days=run.days,
        slot_times=SLOT_TIMES,
        opening=actions.opening_hours(run.site),
        patients=tuple(patients),
        rooms=rooms,
        staff=tuple(staff),
        series_rules=series_rules or actions.clinic_series_rules(),
    )


def _result(found: optimizer.Result) -> dict:
    return {
        "solver": found.status,
        "gap": found.gap,
        "seconds": round(found.solve_seconds + found.build_seconds, 2),
        "problems": [{"rule": p.rule, "message": p.message} for p in found.problems],
        "sessions": [
            {
                "patient": int(o.patient),
                "kind": str(o.kind),
                "index": o.index,
                "start": o.start.isoformat(),
                "end": o.end.isoformat(),
                "room": int(o.room) if o.room else None,
                "staff": [int(person) for person in o.staff],
            }
            for o in found.occurrences
        ],
    }


@db_task()
def run_retreat(run_id: int) -> None:
    run = RetreatRun.objects.select_related("site").get(pk=run_id)
    try:
        found = optimizer.optimize(build_cohort(run), time_limit=TIME_LIMIT_SECONDS)
    except DomainError as error:
        errors = getattr(error, "errors", None) or [error]
        run.status = RetreatRun.Status.INFEASIBLE
        run.result = {
            "problems": [
                {"rule": getattr(e, "field", "input"), "message": getattr(e, "message", "")}
                for e in errors
            ]
        }
    except Exception as error:  # noqa: BLE001 - recorded as failed; the class name only
        log.error("retreat run %s failed: %s", run_id, type(error).__name__)
        run.status = RetreatRun.Status.FAILED
        run.result = {}
    else:
        run.result = _result(found)
        run.status = RetreatRun.Status.DONE if found.feasible else RetreatRun.Status.INFEASIBLE
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "result", "finished_at"])
