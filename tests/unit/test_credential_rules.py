"""Credential rules: which kinds expire, the 60-day window, and who holds what on a date."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.credentials import rules
from kapstone.credentials.rules import Held, Kind, Status

TODAY = date(2026, 11, 21)


def acls(issued="2025-01-10", expires="2027-01-10"):
    return Held(
        kind="acls",
        issued_on=date.fromisoformat(issued),
        expires_on=date.fromisoformat(expires) if expires else None,
    )


@pytest.mark.parametrize(
    ("kind", "expires"),
    [
        ("licence", True),
        ("dea_registration", True),
        ("acls", True),
        ("bls", True),
        ("kap_training", False),
        ("emdr", False),
        ("ifs", False),
        ("art", False),
        ("other", False),
    ],
)
def test_which_kinds_carry_an_expiry(kind, expires):
    assert rules.expires(kind) is expires


def test_every_kind_has_a_label():
    assert {kind.label for kind in Kind} and all(kind.label for kind in Kind)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        rules.expires("reiki")


@pytest.mark.parametrize(
    ("expires", "on", "held"),
    [
        ("2027-01-10", "2026-11-21", True),
        ("2027-01-10", "2027-01-10", True),  # good through its expiry date
        ("2027-01-10", "2027-01-11", False),  # expired does not count
        ("2027-01-10", "2025-01-09", False),  # not yet issued
        ("2027-01-10", "2025-01-10", True),  # from its date of issue
        (None, "2040-01-01", True),  # no expiry
    ],
)
def test_holds_on_a_date(expires, on, held):
    assert rules.holds([acls(expires=expires)], Kind.ACLS, date.fromisoformat(on)) is held


def test_holds_wants_the_right_kind():
    assert not rules.holds([acls()], "bls", TODAY)
    assert rules.holds([acls()], "acls", TODAY)


def test_holds_counts_any_one_in_force():
    old = acls(issued="2023-01-01", expires="2025-01-01")
    assert rules.holds([old, acls()], Kind.ACLS, TODAY)
    assert not rules.holds([old], Kind.ACLS, TODAY)
    assert not rules.holds([], Kind.ACLS, TODAY)


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        ("2026-11-20", Status.EXPIRED),
        ("2026-11-21", Status.EXPIRING),
        ("2027-01-20", Status.EXPIRING),  # day 60
        ("2027-01-21", Status.CURRENT),  # day 61
        (None, Status.CURRENT),
    ],
)
def test_status(expires, expected):
    assert rules.status(acls(expires=expires), TODAY) is expected


def test_status_not_yet_issued():
    assert rules.status(acls(issued="2026-12-01"), TODAY) is Status.NOT_YET


def test_expiring_lists_the_window_soonest_first():
    # Arrange
    late = acls(expires="2027-01-20")
    soon = acls(expires="2026-12-01")
    past = acls(expires="2026-11-20")
    far = acls(expires="2027-06-01")
    never = acls(expires=None)

    # Act
    due = rules.expiring([late, past, far, never, soon], TODAY)

    # Assert
    assert due == [soon, late]
    assert rules.expired([late, past, far, never, soon], TODAY) == [past]
    assert rules.expiring([late, soon], TODAY, days=30) == [soon]


def test_expiring_refuses_a_negative_window():
    with pytest.raises(ValueError):
        rules.expiring([], TODAY, days=-1)


@given(
    offset=st.integers(min_value=-400, max_value=400),
    days=st.integers(min_value=0, max_value=365),
)
def test_a_credential_is_exactly_one_of_expired_expiring_current(offset, days):
    cred = Held(kind="bls", issued_on=date(2020, 1, 1), expires_on=TODAY + timedelta(offset))
    in_window = bool(rules.expiring([cred], TODAY, days))
    is_expired = bool(rules.expired([cred], TODAY))
    assert in_window + is_expired <= 1
    assert rules.holds([cred], "bls", TODAY) is not is_expired
    assert (rules.status(cred, TODAY, days) is Status.EXPIRING) is in_window
