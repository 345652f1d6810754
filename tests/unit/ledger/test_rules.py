"""The ledger's rules alone: tables of inputs and outcomes, and properties of the arithmetic."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.errors import InvalidInput
from kapstone.ledger import rules
from kapstone.ledger.rules import EntryKind as K

D = Decimal


@pytest.mark.parametrize(
    ("value", "unit", "mg_per_ml", "expected"),
    [
        ("35.15", "mg", D(50), D("35.150")),
        ("0.7", "mL", D(50), D("35.000")),
        ("0.703", "mL", D(50), D("35.150")),
        ("2", "mL", D(100), D("200.000")),
        (" 12.5 ", "mg", D(50), D("12.500")),
        ("0.2", "mL", D(140), D("28.000")),
        ("0.001", "mg", D(50), D("0.001")),
    ],
)
def test_quantity_is_exact_milligrams(value, unit, mg_per_ml, expected):
    assert rules.parse_quantity("quantity", value, unit, mg_per_ml) == expected


@pytest.mark.parametrize(
    ("value", "unit", "field", "words"),
    [
        ("", "mg", "quantity", "is required"),
        ("none", "mg", "quantity", "must be a number"),
        ("NaN", "mg", "quantity", "must be a number"),
        ("0", "mg", "quantity", "more than 0"),
        ("-5", "mg", "quantity", "more than 0"),
        ("0.0001", "mg", "quantity", "finer than the ledger records"),
        ("0.00001", "mL", "quantity", "finer than the ledger records"),
        ("1e9", "mg", "quantity", "at most"),
        ("5", "g", "unit", "must be mg or mL"),
    ],
)
def test_quantity_refused_names_field_and_rule(value, unit, field, words):
    with pytest.raises(InvalidInput) as caught:
        rules.parse_quantity("quantity", value, unit, D(50))
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("kind", "quantity", "removes", "delta"),
    [
        (K.RECEIVE, D(500), None, D(500)),
        (K.ADMINISTER, D(35), None, D(-35)),
        (K.WASTE, D(5), None, D(-5)),
        (K.DESTROY, D(500), None, D(-500)),
        (K.RETURN, D(500), None, D(-500)),
        (K.LOSS, D(10), None, D(-10)),
        (K.TRANSFER, D(400), None, D(0)),
        (K.ADJUST, D(2), False, D(2)),
        (K.ADJUST, D(2), True, D(-2)),
    ],
)
def test_each_kind_moves_the_balance_its_way(kind, quantity, removes, delta):
    assert rules.delta_for(kind, quantity, removes=removes) == delta


def test_adjustment_without_a_direction_is_refused():
    with pytest.raises(InvalidInput, match="direction"):
        rules.delta_for(K.ADJUST, D(1))


@pytest.mark.parametrize(
    ("kind", "needs"),
    [
        (K.ADMINISTER, {"session"}),
        (K.WASTE, {"second_signer"}),
        (K.DESTROY, {"second_signer", "method"}),
        (K.RETURN, {"second_signer", "counterparty"}),
        (K.LOSS, {"reason", "loss_report"}),
        (K.ADJUST, {"reason"}),
        (K.REVERSAL, {"reason"}),
        (K.RECEIVE, set()),
        (K.TRANSFER, set()),
    ],
)
def test_what_each_kind_needs(kind, needs):
    rule = rules.KIND_RULES[kind]
    flags = {
        "session": rule.needs_session,
        "second_signer": rule.needs_second_signer,
        "reason": rule.needs_reason,
        "method": rule.needs_method,
        "counterparty": rule.needs_counterparty,
        "loss_report": rule.needs_loss_report,
    }
    assert {name for name, needed in flags.items() if needed} == needs


def test_every_kind_has_a_rule():
    assert set(rules.KIND_RULES) == set(K)


@pytest.mark.parametrize(
    ("kind", "given", "missing"),
    [
        (K.ADMINISTER, {"session": None}, ["session"]),
        (K.DESTROY, {"method": ""}, ["method"]),
        (K.RETURN, {"recipient_name": "", "recipient_address": "x"}, ["recipient_name"]),
        (K.ADJUST, {"reason": ""}, ["reason"]),
        (K.ADJUST, {"reason": "Overfill"}, []),
        (K.WASTE, {"reason": ""}, []),
    ],
)
def test_missing_fields_named(kind, given, missing):
    assert [e.field for e in rules.missing_for(kind, **given)] == missing


@pytest.mark.parametrize(
    ("balance", "delta", "after"),
    [(D(500), D(-500), D(0)), (D(400), D(-0.5), D("399.5")), (D(0), D(500), D(500))],
)
def test_balance_may_reach_zero(balance, delta, after):
    assert rules.next_balance(balance, delta) == after


def test_balance_never_goes_below_zero():
    with pytest.raises(InvalidInput) as caught:
        rules.next_balance(D("0.5"), D("-0.501"))
    assert caught.value.field == "quantity"
    assert "more than the container holds" in caught.value.message


@given(
    balance=st.decimals(min_value=0, max_value=10000, places=3),
    draws=st.lists(st.decimals(min_value="0.001", max_value=600, places=3), max_size=30),
)
def test_draws_never_leave_a_negative_balance_and_add_up(balance, draws):
    taken = D(0)
    for draw in draws:
        try:
            balance_after = rules.next_balance(balance - taken, -draw)
        except InvalidInput:
            assert draw > balance - taken
            continue
        assert balance_after >= 0
        taken += draw
    assert balance - taken >= 0


@given(
    ml=st.decimals(min_value="0.001", max_value=100, places=3),
    mg_per_ml=st.sampled_from([D(50), D(100), D(140), D(10)]),
)
def test_volume_to_mass_is_exact_and_round_trips(ml, mg_per_ml):
    mg = rules.parse_quantity("quantity", str(ml), "mL", mg_per_ml)
    assert mg == ml * mg_per_ml
    assert rules.mg_to_ml(mg, mg_per_ml) == ml


@pytest.mark.parametrize(
    ("kind", "already", "words"),
    [
        (K.REVERSAL, False, "is a reversal"),
        (K.ADMINISTER, True, "already been reversed"),
    ],
)
def test_what_cannot_be_reversed(kind, already, words):
    with pytest.raises(InvalidInput, match=words):
        rules.check_reversible(kind, already)


@pytest.mark.parametrize("kind", sorted(rules.REVERSIBLE))
def test_what_can_be_reversed(kind):
    rules.check_reversible(kind, False)


@pytest.mark.parametrize(
    ("recorder", "second", "required", "words"),
    [
        (1, None, True, "is required"),
        (1, 1, True, "different member of staff"),
        (1, 1, False, "different member of staff"),
    ],
)
def test_two_signers_must_be_two_people(recorder, second, required, words):
    with pytest.raises(InvalidInput, match=words):
        rules.check_signers(recorder, second, required=required)


def test_second_signer_optional_where_not_required():
    rules.check_signers(1, None, required=False)
    rules.check_signers(1, 2, required=True)


@pytest.mark.parametrize(
    ("expires_on", "allowed"),
    [(date(2026, 11, 21), True), (date(2026, 11, 20), False), (date(2027, 1, 1), True)],
    ids=["expires-today", "expired-yesterday", "in-date"],
)
def test_no_dose_from_an_expired_container(expires_on, allowed):
    today = date(2026, 11, 21)
    if allowed:
        rules.check_in_date(expires_on, today)
    else:
        with pytest.raises(InvalidInput, match="past its expiry date") as caught:
            rules.check_in_date(expires_on, today)
        assert caught.value.field == "container"


# Theft and loss deadlines (`clinical-facts.md` section 5.5)

WEEK = {
    "mon": date(2026, 11, 16),
    "thu": date(2026, 11, 19),
    "fri": date(2026, 11, 20),
    "sat": date(2026, 11, 21),
    "sun": date(2026, 11, 22),
}


@pytest.mark.parametrize(
    ("discovered", "notice_due", "form_due"),
    [
        (WEEK["mon"], date(2026, 11, 17), date(2026, 12, 31)),
        (WEEK["thu"], date(2026, 11, 20), date(2027, 1, 3)),
        (WEEK["fri"], date(2026, 11, 23), date(2027, 1, 4)),
        (WEEK["sat"], date(2026, 11, 23), date(2027, 1, 5)),
        (WEEK["sun"], date(2026, 11, 23), date(2027, 1, 6)),
    ],
    ids=["monday", "thursday", "friday", "saturday", "sunday"],
)
def test_loss_deadlines(discovered, notice_due, form_due):
    due = rules.loss_deadlines(discovered)
    assert due.notice_due == notice_due
    assert due.form_106_due == form_due


def test_clinic_holidays_push_the_notice_on():
    thanksgiving = date(2026, 11, 26)
    due = rules.loss_deadlines(date(2026, 11, 25), frozenset({thanksgiving}))
    assert due.notice_due == date(2026, 11, 27)
    assert rules.loss_deadlines(date(2026, 11, 25)).notice_due == thanksgiving


@pytest.mark.parametrize(
    ("due", "done", "today", "state"),
    [
        (date(2026, 1, 2), None, date(2026, 1, 1), "due"),
        (date(2026, 1, 2), None, date(2026, 1, 2), "due"),
        (date(2026, 1, 2), None, date(2026, 1, 3), "overdue"),
        (date(2026, 1, 2), date(2026, 1, 2), date(2026, 3, 1), "done"),
        (date(2026, 1, 2), date(2026, 1, 5), date(2026, 3, 1), "done late"),
    ],
)
def test_deadline_state(due, done, today, state):
    assert rules.deadline_state(due, done, today) == state


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_notice_falls_on_a_weekday_within_three_days(discovered):
    due = rules.loss_deadlines(discovered).notice_due
    assert due.weekday() < 5
    assert 1 <= (due - discovered).days <= 3


# Reconciliation


R = rules.ReconciliationStatus
STEP = rules.ReconciliationStep


@pytest.mark.parametrize(
    ("status", "step", "after"),
    [
        (R.OPEN, STEP.INVESTIGATE, R.INVESTIGATING),
        (R.OPEN, STEP.RESOLVE, R.RESOLVED),
        (R.INVESTIGATING, STEP.RESOLVE, R.RESOLVED),
        (R.INVESTIGATING, STEP.INVESTIGATE, None),
        (R.RESOLVED, STEP.RESOLVE, None),
        (R.RESOLVED, STEP.INVESTIGATE, None),
    ],
)
def test_reconciliation_moves(status, step, after):
    if after is None:
        with pytest.raises(InvalidInput, match="cannot"):
            rules.next_reconciliation_status(status, step)
    else:
        assert rules.next_reconciliation_status(status, step) == after


def test_discrepancies_are_the_lines_that_differ():
    lines = [
        rules.CountedLine(1, D(500), D(500)),
        rules.CountedLine(2, D(400), D(390)),
        rules.CountedLine(3, D(0), D("0.5")),
    ]
    assert [(line.container_id, line.difference) for line in rules.discrepancies(lines)] == [
        (2, D(-10)),
        (3, D("0.5")),
    ]


def test_adjustment_after_count_applies_the_difference_to_the_balance_now():
    line = rules.CountedLine(1, D(400), D(390))
    assert rules.adjustment_after_count(D(300), line) == D(-10)
    with pytest.raises(InvalidInput):
        rules.adjustment_after_count(D(5), line)


@pytest.mark.parametrize(
    ("last", "due"),
    [(date(2026, 5, 1), date(2028, 5, 1)), (date(2024, 2, 29), date(2026, 2, 28))],
)
def test_biennial_inventory_due(last, due):
    assert rules.biennial_due(last) == due


# Registration numbers and codes


@pytest.mark.parametrize("value", ["AB1234563", "ab1234563", " FM1234563 "])
def test_dea_number_accepted(value):
    assert rules.check_dea_number("dea", value) == value.strip().upper()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("AB1234564", "check digit"),
        ("A11234563", "two letters and seven digits"),
        ("AB123456", "two letters and seven digits"),
        ("", "two letters and seven digits"),
    ],
)
def test_dea_number_refused(value, words):
    with pytest.raises(InvalidInput, match=words):
        rules.check_dea_number("dea", value)


@pytest.mark.parametrize("value", ["0409-2051-05", "42023-113-10", "12345-6789-1", "12345-6789-01"])
def test_ndc_accepted(value):
    assert rules.check_ndc("ndc", value) == value


@pytest.mark.parametrize("value", ["0409205105", "040-2051-05", "12345-67890-1", "ab-cd-ef"])
def test_ndc_refused(value):
    with pytest.raises(InvalidInput) as caught:
        rules.check_ndc("ndc", value)
    assert caught.value.field == "ndc"
