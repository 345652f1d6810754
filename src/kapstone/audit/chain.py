"""The audit trail's hash chain.

Each event's hash covers its own fields and the hash of the event before it, so changing or
removing any stored event breaks every link after it; the chain head (last sequence number and
hash, kept separately) also catches removal of the newest events. Pure Python: the Django
side stores and reads rows, this module alone decides what a row's hash is.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# The fields that the hash covers, in a fixed order. Adding a field is a new chain version.
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_username",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "patient_id",
    "ip_address",
    "detail",
    "prev_hash",
)


def canonical(event: Mapping[str, Any]) -> bytes:
    payload = {name: event[name] for name in HASHED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


# The link (the previous hash, then the sequence number) sits together in the canonical form:
# no hashed field sorts between them.
if any("prev_hash" < name < "seq" for name in HASHED_FIELDS):
    raise RuntimeError("a hashed field sorts between prev_hash and seq")


def canonical_around_link(event: Mapping[str, Any]) -> tuple[str, str, str]:
    """The canonical form cut where the link goes: ``(before, between, after)`` with
    ``canonical(event) == (before + prev_hash + between + str(seq) + after).encode()``.

    A database that computes SHA-256 can then finish an event's hash itself while it holds
    the chain head, in the same statement that reads the previous hash (the event's other
    fields are known beforehand). ``event`` needs no "seq" or "prev_hash".
    """
    before = _members({n: event[n] for n in HASHED_FIELDS if n < "prev_hash"})
    after = _members({n: event[n] for n in HASHED_FIELDS if n > "seq"})
    return (
        "{" + (before + "," if before else "") + '"prev_hash":"',
        '","seq":',
        ("," + after if after else "") + "}",
    )


def _members(payload: Mapping[str, Any]) -> str:
    """An object's members as canonical() writes them, without the braces."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)[1:-1]


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    intact: bool
    first_bad_seq: int | None = None
    problem: str = ""


def verify(
    events: Iterable[Mapping[str, Any]],
    head_seq: int,
    head_hash: str,
) -> ChainReport:
    """Walk events in sequence order and report the first break."""
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for event in events:
        count += 1
        seq = event["seq"]
        if seq != expected_seq:
            return ChainReport(count, False, expected_seq, f"event {expected_seq} is missing")
        if event["prev_hash"] != expected_prev:
            return ChainReport(count, False, seq, f"event {seq} does not link to event {seq - 1}")
        if event_hash(event) != event["hash"]:
            return ChainReport(count, False, seq, f"event {seq} was altered after it was written")
        expected_prev = event["hash"]
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != head_seq or expected_prev != (head_hash if head_seq else GENESIS):
        return ChainReport(
            count,
            False,
            last_seq + 1,
            f"the chain ends at event {last_seq} but the head records event {head_seq}",
        )
    return ChainReport(count, True)
