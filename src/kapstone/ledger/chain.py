"""The ledger's hash chain and balance check. Pure Python.

The same construction as the audit trail (kapstone.audit.chain, ADR 3): each entry's SHA-256
covers its fields and the previous entry's hash, sequence numbers have no gaps, and a head
kept apart from the entries catches removal of the newest. On top of that, each entry states
its container's balance after it, so walking the chain recomputes every balance: an entry
whose quantity was edited, or a container whose stored balance was edited, no longer adds up.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kapstone.audit.chain import GENESIS

__all__ = ["GENESIS", "HASHED_FIELDS", "LedgerReport", "compare_balances", "entry_hash", "verify"]

# The fields the hash covers. Adding one is a new chain version.
HASHED_FIELDS = (
    "seq",
    "kind",
    "container_id",
    "location_id",
    "to_location_id",
    "quantity_mg",
    "delta_mg",
    "balance_after_mg",
    "occurred_at",
    "recorded_at",
    "recorded_by_id",
    "second_signer_id",
    "patient_id",
    "session_id",
    "reversal_of_id",
    "loss_report_id",
    "reconciliation_id",
    "reason",
    "method",
    "place",
    "counterparty_name",
    "counterparty_address",
    "counterparty_dea",
    "prev_hash",
)


def _plain(value: Any) -> Any:
    # Quantities hash as fixed three-place strings, so 35.15 and 35.150 are one value.
    if isinstance(value, Decimal):
        return f"{value:.3f}"
    return value


def canonical(entry: Mapping[str, Any]) -> bytes:
    payload = {name: _plain(entry[name]) for name in HASHED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class LedgerReport:
    entries_checked: int
    intact: bool
    first_bad_seq: int | None = None
    problem: str = ""
    # Each container's balance as the chain computes it.
    balances: dict[int, Decimal] = field(default_factory=dict)


def verify(entries: Iterable[Mapping[str, Any]], head_seq: int, head_hash: str) -> LedgerReport:
    """Walk entries in sequence order; report the first break in the chain or in a balance."""
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    balances: dict[int, Decimal] = {}

    def broken(seq, problem):
        return LedgerReport(count, False, seq, problem, balances)

    for entry in entries:
        count += 1
        seq = entry["seq"]
        if seq != expected_seq:
            return broken(expected_seq, f"entry {expected_seq} is missing")
        if entry["prev_hash"] != expected_prev:
            return broken(seq, f"entry {seq} does not link to entry {seq - 1}")
        if entry_hash(entry) != entry["hash"]:
            return broken(seq, f"entry {seq} was altered after it was written")
        container = entry["container_id"]
        before = balances.get(container, Decimal(0))
        after = Decimal(entry["balance_after_mg"])
        if after != before + Decimal(entry["delta_mg"]) or after < 0:
            return broken(seq, f"entry {seq} does not follow from its container's balance")
        balances[container] = after
        expected_prev = entry["hash"]
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != head_seq or expected_prev != (head_hash if head_seq else GENESIS):
        return broken(
            last_seq + 1,
            f"the chain ends at entry {last_seq} but the head records entry {head_seq}",
        )
    return LedgerReport(count, True, balances=balances)


def compare_balances(chain: Mapping[int, Decimal], stored: Mapping[int, Decimal]) -> str:
    """Every container's stored balance must be what its entries add up to."""
    for container in sorted(set(chain) | set(stored)):
        if chain.get(container, Decimal(0)) != stored.get(container, Decimal(0)):
            return f"container {container}'s balance does not match its entries"
    return ""
