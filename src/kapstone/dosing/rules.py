"""A dosing session's lifecycle: its statuses and the one table of moves between them.

Pure Python. A session is scheduled, the patient checks in, the pre-dose check clears them
for dosing (``kapstone.dosing.gates``), the dose is given, they are monitored, found ready for
discharge and discharged (the discharge gate). From any step before the end a session may be
**held** (paused, with a reason) or **aborted** (ended, with a reason); a scheduled session
that never starts is **cancelled**. Discharged, aborted and cancelled are final.

Moves into ``cleared`` and ``discharged`` pass through their gates in
``kapstone.dosing.actions``; this table only says which moves exist.
"""

from enum import StrEnum
from itertools import pairwise

from kapstone.errors import InvalidInput


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    CLEARED = "cleared"
    DOSING = "dosing"
    MONITORING = "monitoring"
    READY_FOR_DISCHARGE = "ready"
    DISCHARGED = "discharged"
    HELD = "held"
    ABORTED = "aborted"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return LABELS[self]


S = SessionStatus

LABELS = {
    S.SCHEDULED: "Scheduled",
    S.CHECKED_IN: "Checked in",
    S.CLEARED: "Cleared for dosing",
    S.DOSING: "Dosing",
    S.MONITORING: "Monitoring",
    S.READY_FOR_DISCHARGE: "Ready for discharge",
    S.DISCHARGED: "Discharged",
    S.HELD: "Held",
    S.ABORTED: "Aborted",
    S.CANCELLED: "Cancelled",
}

# The forward path, one step at a time.
PATH = (
    S.SCHEDULED,
    S.CHECKED_IN,
    S.CLEARED,
    S.DOSING,
    S.MONITORING,
    S.READY_FOR_DISCHARGE,
    S.DISCHARGED,
)
FINAL = frozenset({S.DISCHARGED, S.ABORTED, S.CANCELLED})
# Steps a session can be held or aborted from: every step of the path before discharge.
ACTIVE_STEPS = frozenset(PATH[:-1])
# Once the dose has started the patient is watched until they leave: a hold after that point
# resumes to monitoring, never back to a step before the dose.
DOSED = frozenset({S.DOSING, S.MONITORING, S.READY_FOR_DISCHARGE})

# (from, to): the only moves a session makes.
TRANSITIONS: frozenset[tuple[SessionStatus, SessionStatus]] = frozenset(
    {
        *pairwise(PATH),
        # Vitals worsen after the patient was found ready: back to monitoring.
        (S.READY_FOR_DISCHARGE, S.MONITORING),
        (S.SCHEDULED, S.CANCELLED),
        *((step, S.HELD) for step in ACTIVE_STEPS),
        *((step, S.ABORTED) for step in ACTIVE_STEPS),
        # A held session resumes where it is safe to (see resume_status) or is aborted.
        (S.HELD, S.SCHEDULED),
        (S.HELD, S.CHECKED_IN),
        (S.HELD, S.MONITORING),
        (S.HELD, S.ABORTED),
    }
)

# Moves that need a written reason.
NEEDS_REASON = frozenset({S.HELD, S.ABORTED})
# Moves made only through a gate (kapstone.dosing.gates), never by a plain status change.
GATED = frozenset({S.CLEARED, S.DISCHARGED})

# A dose may be drawn from the ledger once the pre-dose check has cleared the patient, and while
# it is being given or watched.
DOSE_STATUSES = frozenset({S.CLEARED, S.DOSING, S.MONITORING})
# Sessions under way: the patient is in the clinic and readings are taken (a held session's
# patient is still watched).
UNDER_WAY = frozenset(
    {S.CHECKED_IN, S.CLEARED, S.DOSING, S.MONITORING, S.READY_FOR_DISCHARGE, S.HELD}
)
# Vital signs are recorded for a session under way.
TAKES_READINGS = UNDER_WAY


def _status(value: str, field: str = "status") -> SessionStatus:
    try:
        return SessionStatus(value)
    except ValueError:
        raise InvalidInput(field, "is not one of the allowed choices") from None


def check_transition(current: str, new: str, *, reason: str = "") -> SessionStatus:
    """The new status, or InvalidInput saying why the move is refused."""
    before = _status(current)
    after = _status(new)
    if (before, after) not in TRANSITIONS:
        if before in FINAL:
            raise InvalidInput(
                "status", f"a {before.label.lower()} session is closed and cannot change"
            )
        raise InvalidInput(
            "status",
            f"a {before.label.lower()} session cannot become {after.label.lower()}"
            + (f"; next is {next_step(before).label.lower()}" if next_step(before) else ""),
        )
    if after in NEEDS_REASON and not (reason or "").strip():
        raise InvalidInput("reason", f"is required to mark a session {after.label.lower()}")
    return after


def next_step(status: str) -> SessionStatus | None:
    """The next step on the forward path, or None off it or at its end."""
    current = SessionStatus(status)
    if current in PATH and current is not PATH[-1]:
        return PATH[PATH.index(current) + 1]
    return None


def resume_status(held_from: str) -> SessionStatus:
    """Where a held session resumes: before the dose it starts the pre-dose check again (a
    clearance does not survive a hold); after the dose it goes back to monitoring."""
    step = SessionStatus(held_from)
    if step is S.SCHEDULED:
        return S.SCHEDULED
    if step in DOSED:
        return S.MONITORING
    return S.CHECKED_IN


def can_take_a_dose(status: str) -> bool:
    return status in DOSE_STATUSES


def is_under_way(status: str) -> bool:
    return status in UNDER_WAY
