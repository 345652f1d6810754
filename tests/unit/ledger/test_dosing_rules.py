"""A dosing session's statuses, as the ledger relies on them."""

import pytest

from kapstone.dosing.rules import SessionStatus as S
from kapstone.dosing.rules import can_take_a_dose


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (S.SCHEDULED, False),
        (S.CHECKED_IN, False),
        (S.CLEARED, True),
        (S.DOSING, True),
        (S.MONITORING, True),
        (S.READY_FOR_DISCHARGE, False),
        (S.DISCHARGED, False),
        (S.HELD, False),
        (S.ABORTED, False),
        (S.CANCELLED, False),
    ],
)
def test_a_dose_is_drawn_only_once_cleared_and_while_under_way(status, allowed):
    assert can_take_a_dose(status) is allowed
