"""Reading process notes: the one place that decides who may.

Only the author and those the author granted read a note; a role grants nothing here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Prefetch, Q, prefetch_related_objects
from django.utils import timezone

from kapstone.core.prepared import Prepared, Reads
from kapstone.integration import practice as practice_rules
from kapstone.integration.models import (
    IntegrationSession,
    PracticeAssignment,
    PracticeLink,
    PracticeLog,
    ProcessNote,
    ProcessNoteGrant,
)


def readable_notes(user, session: IntegrationSession) -> list[ProcessNote]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    return list(
        ProcessNote.objects.filter(session=session)
        .filter(Q(author=user) | Q(grants__grantee=user, grants__revoked_at__isnull=True))
        .select_related("author")
        .distinct()
        .order_by("created_at", "id")
    )


def may_read(user, note: ProcessNote) -> bool:
    return (
        note.author_id == user.pk
        or note.grants.filter(grantee=user, revoked_at__isnull=True).exists()
    )


def own_notes(user, session: IntegrationSession) -> list[ProcessNote]:
    return list(
        ProcessNote.objects.filter(session=session, author=user)
        .prefetch_related(
            Prefetch(
                "grants",
                queryset=ProcessNoteGrant.objects.filter(revoked_at__isnull=True).select_related(
                    "grantee"
                ),
                to_attr="open_grants",
            )
        )
        .order_by("created_at", "id")
    )


# ---------------------------------------------------------------------------------------------
# Home practice: adherence for the chart and the practice page, in a fixed number of queries

ADHERENCE_WINDOWS = (7, 28)

_ACTIVE_ASSIGNMENTS = Prepared(
    lambda patient_id: PracticeAssignment.objects.filter(patient_id=patient_id, active=True)
)
# A time cannot be a prepared parameter: the link that closes last is read, then compared.
_LATEST_LINK = Prepared(
    lambda patient_id: PracticeLink.objects.filter(
        patient_id=patient_id, revoked_at__isnull=True
    ).order_by("-expires_at", "-created_at")[:1]
)


@dataclass(frozen=True)
class PracticeRow:
    assignment: PracticeAssignment
    recent: practice_rules.Adherence
    month: practice_rules.Adherence
    last_done: date | None
    logs: list[PracticeLog]


@dataclass(frozen=True)
class ChartPractice:
    rows: list[PracticeRow]
    # The open practice link's closing time, or None when the patient has none.
    link_expires_at: datetime | None


def practice_rows(patient, *, today: date | None = None, active_only: bool = True):
    """Each assignment with its adherence over the last 7 and 28 days: two queries."""
    if active_only:
        # The chart's case, on every chart view: its SQL is compiled once
        # (kapstone.core.prepared), and a patient with no practice assigned costs one query.
        assignments = _ACTIVE_ASSIGNMENTS.instances(patient.pk)
    else:
        assignments = list(PracticeAssignment.objects.filter(patient=patient))
    return _with_adherence(assignments, today)


def _with_adherence(assignments, today: date | None) -> list["PracticeRow"]:
    if not assignments:
        return []
    today = today or timezone.localdate()
    since = today - timedelta(days=max(ADHERENCE_WINDOWS) - 1)
    prefetch_related_objects(
        assignments,
        Prefetch(
            "logs",
            queryset=PracticeLog.objects.filter(done_on__gte=since).order_by("-done_on", "-id"),
            to_attr="recent_logs",
        ),
    )
    rows = []
    for assignment in assignments:
        logs = assignment.recent_logs
        rows.append(
            PracticeRow(
                assignment=assignment,
                recent=practice_rules.adherence(
                    logs, assignment, practice_rules.Window.last(7, today)
                ),
                month=practice_rules.adherence(
                    logs, assignment, practice_rules.Window.last(28, today)
                ),
                last_done=logs[0].done_on if logs else None,
                logs=logs,
            )
        )
    return rows


def open_practice_link(patient, *, now: datetime | None = None) -> PracticeLink | None:
    """The patient's unrevoked link that stays open longest, if it is still open."""
    return _still_open(_LATEST_LINK.instances(patient.pk), now)


def _still_open(latest: list[PracticeLink], now: datetime | None) -> PracticeLink | None:
    """The link that closes last (read by _LATEST_LINK), if it has not closed yet."""
    now = now or timezone.now()
    return latest[0] if latest and latest[0].expires_at > now else None


def chart_practice(patient, *, today: date | None = None) -> ChartPractice:
    """The chart's home-practice section: two queries, three when practice is assigned,
    however many assignments."""
    return chart_practice_read(Reads(), patient.pk)(today=today)


def chart_practice_read(reads: Reads, patient_id: int) -> Callable[..., ChartPractice]:
    """``chart_practice`` with its first two queries read with a page's other queries."""
    assignments_read = reads.add(_ACTIVE_ASSIGNMENTS, patient_id)
    link_read = reads.add(_LATEST_LINK, patient_id)

    def build(*, today: date | None = None, now: datetime | None = None) -> ChartPractice:
        link = _still_open(link_read.instances(), now)
        return ChartPractice(
            rows=_with_adherence(assignments_read.instances(), today),
            link_expires_at=link.expires_at if link else None,
        )

    return build
