"""The dosing session's lifecycle: one transition table, reasons for holds and aborts."""

import pytest

from kapstone.dosing.rules import SessionStatus as S
from kapstone.dosing.rules import check_transition, next_step, resume_status
from kapstone.errors import InvalidInput

BEFORE_DISCHARGE = [
    S.SCHEDULED,
    S.CHECKED_IN,
    S.CLEARED,
    S.DOSING,
    S.MONITORING,
    S.READY_FOR_DISCHARGE,
]
ALLOWED = {
    (S.SCHEDULED, S.CHECKED_IN),
    (S.CHECKED_IN, S.CLEARED),
    (S.CLEARED, S.DOSING),
    (S.DOSING, S.MONITORING),
    (S.MONITORING, S.READY_FOR_DISCHARGE),
    (S.READY_FOR_DISCHARGE, S.DISCHARGED),
    (S.READY_FOR_DISCHARGE, S.MONITORING),
    (S.SCHEDULED, S.CANCELLED),
    *((step, S.HELD) for step in BEFORE_DISCHARGE),
    *((step, S.ABORTED) for step in BEFORE_DISCHARGE),
    (S.HELD, S.SCHEDULED),
    (S.HELD, S.CHECKED_IN),
    (S.HELD, S.MONITORING),
    (S.HELD, S.ABORTED),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_transition_table(current, new):
    if (current, new) in ALLOWED:
        assert check_transition(current, new, reason="Patient unwell") == new
    else:
        with pytest.raises(InvalidInput) as caught:
            check_transition(current, new, reason="Patient unwell")
        assert caught.value.field == "status"


@pytest.mark.parametrize("new", [S.HELD, S.ABORTED])
@pytest.mark.parametrize("reason", ["", "   "])
def test_hold_and_abort_need_a_reason(new, reason):
    with pytest.raises(InvalidInput) as caught:
        check_transition(S.MONITORING, new, reason=reason)
    assert caught.value.field == "reason"


@pytest.mark.parametrize(
    ("current", "new", "words"),
    [
        (S.SCHEDULED, S.DOSING, "a scheduled session cannot become dosing; next is checked in"),
        (S.DISCHARGED, S.MONITORING, "a discharged session is closed"),
        (S.CANCELLED, S.SCHEDULED, "a cancelled session is closed"),
    ],
)
def test_an_illegal_step_says_why(current, new, words):
    with pytest.raises(InvalidInput, match=words):
        check_transition(current, new)


def test_unknown_status_is_refused():
    with pytest.raises(InvalidInput, match="allowed choices"):
        check_transition(S.SCHEDULED, "paused")


def test_the_minimal_lifecycles_in_progress_is_no_longer_a_status():
    with pytest.raises(InvalidInput, match="allowed choices"):
        check_transition(S.SCHEDULED, "in_progress")


@pytest.mark.parametrize(
    ("held_from", "resumes"),
    [
        (S.SCHEDULED, S.SCHEDULED),
        (S.CHECKED_IN, S.CHECKED_IN),
        (S.CLEARED, S.CHECKED_IN),
        (S.DOSING, S.MONITORING),
        (S.MONITORING, S.MONITORING),
        (S.READY_FOR_DISCHARGE, S.MONITORING),
    ],
)
def test_a_held_session_resumes_where_it_is_safe(held_from, resumes):
    assert resume_status(held_from) is resumes
    assert check_transition(S.HELD, resumes) is resumes


@pytest.mark.parametrize(
    ("status", "following"),
    [(S.SCHEDULED, S.CHECKED_IN), (S.READY_FOR_DISCHARGE, S.DISCHARGED), (S.DISCHARGED, None)],
)
def test_next_step(status, following):
    assert next_step(status) == following
