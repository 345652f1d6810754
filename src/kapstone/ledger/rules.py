"""The controlled-substance ledger's rules, in plain Python.

Ketamine and esketamine are US Schedule III: a clinic that stocks them accounts for every
milligram (`clinical-facts.md` section 5). This module decides what an entry may be and what it
does to a container's balance; kapstone.ledger.actions stores what it decides.

- Quantities are exact decimals in milligrams, to 0.001 mg. A volume is converted with the
  product's concentration, and refused if the result is finer than the ledger records: a
  quantity is never rounded to fit.
- A container's balance never goes below zero.
- Each kind of entry says what it needs: a patient and a dosing session, a second member of
  staff, a reason, the manner of destruction, the recipient of a return.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from kapstone.clinical.units import parse_decimal
from kapstone.errors import InvalidInput

MG_STEP = Decimal("0.001")
ML_STEP = Decimal("0.001")
# More than any clinic holds in one container or moves in one entry (1 kg).
MAX_MG = Decimal(1000000)
ZERO = Decimal(0)


class EntryKind(StrEnum):
    RECEIVE = "receive"
    ADMINISTER = "administer"
    WASTE = "waste"
    DESTROY = "destroy"
    RETURN = "return"
    TRANSFER = "transfer"
    LOSS = "loss"
    ADJUST = "adjust"
    REVERSAL = "reversal"


@dataclass(frozen=True)
class KindRule:
    label: str
    # +1 adds to the container, -1 takes from it, 0 moves it; None: the entry says which.
    sign: int | None
    needs_session: bool = False
    needs_second_signer: bool = False
    needs_reason: bool = False
    needs_method: bool = False
    needs_counterparty: bool = False
    needs_loss_report: bool = False
    # A draw from a sealed container opens it.
    opens_container: bool = False


K = EntryKind

KIND_RULES: dict[EntryKind, KindRule] = {
    K.RECEIVE: KindRule("Received", +1),
    # Administered in the clinic to a patient in a supervised dosing session.
    K.ADMINISTER: KindRule("Administered", -1, needs_session=True, opens_container=True),
    # Residue left in a vial or syringe after a dose: not a Form 41 destruction (section 5.6);
    # witnessing is the clinic's policy, and Kapstone requires it.
    K.WASTE: KindRule("Wasted", -1, needs_second_signer=True, opens_container=True),
    # On-site destruction of stock, recorded with the data of DEA Form 41 and witnessed by two
    # authorized employees (section 5.6).
    K.DESTROY: KindRule("Destroyed", -1, needs_second_signer=True, needs_method=True),
    # Transfer to a reverse distributor or back to the supplier: date, recipient's name and
    # address, quantity (section 5.4). Two staff sign, as for destruction.
    K.RETURN: KindRule("Returned", -1, needs_second_signer=True, needs_counterparty=True),
    K.TRANSFER: KindRule("Transferred", 0),
    # Theft or significant loss: DEA Form 106 (section 5.5); the report tracks the deadlines.
    K.LOSS: KindRule("Lost or stolen", -1, needs_reason=True, needs_loss_report=True),
    K.ADJUST: KindRule("Adjusted", None, needs_reason=True),
    # The only correction: an entry is never changed, its effect is undone by a new one.
    K.REVERSAL: KindRule("Reversal", None, needs_reason=True),
}

# Kinds a reversal may undo. A receipt is reversed only while its container is untouched.
REVERSIBLE = frozenset(
    {K.RECEIVE, K.ADMINISTER, K.WASTE, K.DESTROY, K.RETURN, K.TRANSFER, K.LOSS, K.ADJUST}
)


class QuantityUnit(StrEnum):
    MG = "mg"
    ML = "mL"


def parse_quantity(field: str, value: object, unit: str, mg_per_ml: Decimal) -> Decimal:
    """A positive quantity typed in mg or mL, as milligrams."""
    if value is None or str(value).strip() == "":
        raise InvalidInput(field, "is required")
    number = parse_decimal(field, value)
    if number <= 0:
        raise InvalidInput(field, "must be more than 0")
    if unit == QuantityUnit.MG:
        mg = number
    elif unit == QuantityUnit.ML:
        mg = number * mg_per_ml
    else:
        raise InvalidInput("unit", "must be mg or mL")
    if mg > MAX_MG:
        raise InvalidInput(field, f"must be at most {MAX_MG} mg")
    if mg != mg.quantize(MG_STEP):
        raise InvalidInput(field, "is finer than the ledger records (0.001 mg)")
    return mg.quantize(MG_STEP)


def parse_count(field: str, value: object, unit: str, mg_per_ml: Decimal) -> Decimal:
    """A counted quantity: like a drawn quantity, but an empty container counts as zero."""
    if value is not None and str(value).strip() in ("0", "0.0", "0.00", "0.000"):
        return ZERO
    return parse_quantity(field, value, unit, mg_per_ml)


def mg_for_volume(mg_per_ml: Decimal, ml: Decimal) -> Decimal:
    """A container's contents from its strength and volume, exactly."""
    mg = mg_per_ml * ml
    if mg != mg.quantize(MG_STEP):
        raise InvalidInput("ml_per_container", "gives a quantity finer than 0.001 mg")
    return mg.quantize(MG_STEP)


def mg_to_ml(mg: Decimal, mg_per_ml: Decimal) -> Decimal:
    """A volume to show beside a quantity; the ledger itself keeps milligrams."""
    return (mg / mg_per_ml).quantize(ML_STEP, rounding=ROUND_HALF_UP)


def delta_for(kind: EntryKind, quantity: Decimal, *, removes: bool | None = None) -> Decimal:
    """What an entry does to its container's balance."""
    sign = KIND_RULES[kind].sign
    if sign is None:
        if removes is None:
            raise InvalidInput("direction", "is required")
        sign = -1 if removes else +1
    return quantity * sign


def next_balance(balance: Decimal, delta: Decimal, field: str = "quantity") -> Decimal:
    after = balance + delta
    if after < 0:
        raise InvalidInput(field, "is more than the container holds")
    return after


def check_in_date(expires_on: date, today: date) -> None:
    """A dose is never drawn from an expired container; it waits for destruction or return."""
    if expires_on < today:
        raise InvalidInput("container", "is past its expiry date; destroy or return it")


def check_reversible(kind: str, already_reversed: bool) -> None:
    if kind == K.REVERSAL:
        raise InvalidInput("entry", "is a reversal; record a new entry instead")
    if already_reversed:
        raise InvalidInput("entry", "has already been reversed")
    if kind not in REVERSIBLE:
        raise InvalidInput("entry", "cannot be reversed")


def check_signers(recorder_id: int, second_id: int | None, *, required: bool) -> None:
    if second_id is None:
        if required:
            raise InvalidInput("witness", "is required: two members of staff sign this entry")
        return
    if second_id == recorder_id:
        raise InvalidInput("witness", "must be a different member of staff from the recorder")


def missing_for(kind: EntryKind, **given: object) -> list[InvalidInput]:
    """Every field this kind of entry needs and was not given."""
    rule = KIND_RULES[kind]
    needs = {
        "session": rule.needs_session,
        "reason": rule.needs_reason,
        "method": rule.needs_method,
        "recipient_name": rule.needs_counterparty,
        "recipient_address": rule.needs_counterparty,
    }
    return [
        InvalidInput(name, "is required")
        for name, needed in needs.items()
        if needed and name in given and given[name] in (None, "")
    ]


# Theft or significant loss (`clinical-facts.md` section 5.5): written notice to the DEA Field
# Division within one business day of discovery, then DEA Form 106 within 45 calendar days.
NOTICE_BUSINESS_DAYS = 1
FORM_106_DAYS = 45


def add_business_days(start: date, days: int, holidays: frozenset[date] = frozenset()) -> date:
    """Skip Saturdays and Sundays. Federal holidays are not counted as closed days unless the
    clinic supplies them: the caller passes the clinic's list."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            left -= 1
    return current


@dataclass(frozen=True)
class LossDeadlines:
    notice_due: date
    form_106_due: date


def loss_deadlines(discovered_on: date, holidays: frozenset[date] = frozenset()) -> LossDeadlines:
    return LossDeadlines(
        notice_due=add_business_days(discovered_on, NOTICE_BUSINESS_DAYS, holidays),
        form_106_due=discovered_on + timedelta(days=FORM_106_DAYS),
    )


class DeadlineState(StrEnum):
    DONE = "done"
    DONE_LATE = "done late"
    DUE = "due"
    OVERDUE = "overdue"


def deadline_state(due: date, done_on: date | None, today: date) -> DeadlineState:
    if done_on is not None:
        return DeadlineState.DONE if done_on <= due else DeadlineState.DONE_LATE
    return DeadlineState.DUE if today <= due else DeadlineState.OVERDUE


# A discrepancy between a count and the ledger opens a reconciliation, which the prescriber
# resolves and signs.
class ReconciliationStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class ReconciliationStep(StrEnum):
    INVESTIGATE = "investigate"
    RESOLVE = "resolve"


class Resolution(StrEnum):
    # The count was right: adjustment entries bring the ledger to it.
    ADJUST_TO_COUNT = "adjust_to_count"
    # The ledger was right (a recount agreed with it, or the count was misread).
    LEDGER_STANDS = "ledger_stands"
    # Stock is missing: the loss is recorded with a loss report, which removes it.
    LOSS_REPORTED = "loss_reported"


R = ReconciliationStatus

RECONCILIATION_TRANSITIONS: dict[tuple[ReconciliationStatus, ReconciliationStep], R] = {
    (R.OPEN, ReconciliationStep.INVESTIGATE): R.INVESTIGATING,
    (R.OPEN, ReconciliationStep.RESOLVE): R.RESOLVED,
    (R.INVESTIGATING, ReconciliationStep.RESOLVE): R.RESOLVED,
}


def next_reconciliation_status(current: str, step: str) -> ReconciliationStatus:
    key = (ReconciliationStatus(current), ReconciliationStep(step))
    if key not in RECONCILIATION_TRANSITIONS:
        raise InvalidInput("status", f"a reconciliation that is {current} cannot {step}")
    return RECONCILIATION_TRANSITIONS[key]


@dataclass(frozen=True)
class CountedLine:
    container_id: int
    expected: Decimal
    counted: Decimal

    @property
    def difference(self) -> Decimal:
        return self.counted - self.expected


def discrepancies(lines: list[CountedLine]) -> list[CountedLine]:
    return [line for line in lines if line.difference != 0]


def adjustment_after_count(balance_now: Decimal, line: CountedLine) -> Decimal:
    """The change that brings a container's ledger to its count, applied to its balance now
    (it may have moved since the count). Refused if that would go below zero."""
    next_balance(balance_now, line.difference, field="resolution")
    return line.difference


# Inventories (section 5.3): an initial inventory when the clinic first handles controlled
# substances, then a biennial one within two years of the previous.
class CountKind(StrEnum):
    SHIFT = "shift"
    DAILY = "daily"
    INITIAL = "initial"
    BIENNIAL = "biennial"


INVENTORY_KINDS = frozenset({CountKind.INITIAL, CountKind.BIENNIAL})


class CountTiming(StrEnum):
    OPENING = "opening"
    CLOSE = "close"


def biennial_due(last_inventory: date) -> date:
    try:
        return last_inventory.replace(year=last_inventory.year + 2)
    except ValueError:  # 29 February
        return last_inventory.replace(year=last_inventory.year + 2, day=28)


# Registrations and products are checked for form, so a typing slip is caught at the counter.
def check_dea_number(field: str, value: str) -> str:
    """A DEA registration number: two letters and seven digits, the last a check digit
    (the sum of the 1st, 3rd and 5th digits, plus twice the sum of the 2nd, 4th and 6th,
    ends in the 7th)."""
    text = (value or "").strip().upper()
    if len(text) != 9 or not text[:2].isalpha() or not text[2:].isdigit():
        raise InvalidInput(field, "must be two letters and seven digits")
    d = [int(c) for c in text[2:]]
    if (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 != d[6]:
        raise InvalidInput(field, "fails the DEA number's check digit")
    return text


def check_ndc(field: str, value: str) -> str:
    """A National Drug Code as printed on the package: 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits."""
    text = (value or "").strip()
    parts = text.split("-")
    shapes = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise InvalidInput(field, "must be three groups of digits joined by hyphens")
    if tuple(len(p) for p in parts) not in shapes:
        raise InvalidInput(field, "must be in the 4-4-2, 5-3-2, 5-4-1 or 5-4-2 form")
    return text
