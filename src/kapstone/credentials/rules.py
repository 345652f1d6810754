"""Staff credentials: which kinds there are, which carry an expiry date, and who holds what.

Plain Python (no Django), so the scheduling rules can ask ``holds()`` whether a person may
take a session role on a date without touching the database. A credential here is anything
with ``kind``, ``issued_on`` and ``expires_on`` attributes (the model rows, or the
``Held`` value below in tests); callers pass the credentials a person currently holds (the
active rows, not those a renewal replaced).

A credential is good through its expiry date and expired from the day after.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol

# The "alert 60 days ahead".
ALERT_DAYS = 60


class Kind(StrEnum):
    LICENCE = "licence"
    DEA_REGISTRATION = "dea_registration"
    ACLS = "acls"
    BLS = "bls"
    KAP_TRAINING = "kap_training"
    EMDR = "emdr"
    IFS = "ifs"
    ART = "art"
    OTHER = "other"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Kind.LICENCE: "Professional licence",
    Kind.DEA_REGISTRATION: "DEA registration",
    Kind.ACLS: "ACLS (Advanced Cardiovascular Life Support)",
    Kind.BLS: "BLS (Basic Life Support)",
    Kind.KAP_TRAINING: "KAP training",
    Kind.EMDR: "EMDR training or certification",
    Kind.IFS: "IFS training",
    Kind.ART: "ART training",
    Kind.OTHER: "Other",
}

# Kinds whose document carries an expiry date, so one must be entered. Professional
# licences, DEA registrations (per state and location, clinical-facts.md §6) and ACLS/BLS
# cards are issued for a term. The clinical reference gives no term for EMDR, IFS, ART or
# KAP training (clinical-facts.md §6: KAP training has no accreditation standard, ART's
# credential tiers are unconfirmed): a completed training has no expiry unless the clinic
# enters one. None of the terms' lengths is set here; the date is read off the document.
EXPIRING_KINDS = frozenset({Kind.LICENCE, Kind.DEA_REGISTRATION, Kind.ACLS, Kind.BLS})

# Kinds whose document has a number the clinic must record (licence number, DEA number).
NUMBERED_KINDS = frozenset({Kind.LICENCE, Kind.DEA_REGISTRATION})


def expires(kind: Kind | str) -> bool:
    return Kind(kind) in EXPIRING_KINDS


class CredentialLike(Protocol):
    kind: str
    issued_on: date
    expires_on: date | None


@dataclass(frozen=True)
class Held:
    kind: str
    issued_on: date
    expires_on: date | None = None
    identifier: str = ""


class Status(StrEnum):
    NOT_YET = "not_yet"  # issued in the future
    CURRENT = "current"
    EXPIRING = "expiring"  # good, but expires within the alert window
    EXPIRED = "expired"


def is_expired(cred: CredentialLike, on_date: date) -> bool:
    return cred.expires_on is not None and on_date > cred.expires_on


def status(cred: CredentialLike, today: date, days: int = ALERT_DAYS) -> Status:
    if cred.issued_on > today:
        return Status.NOT_YET
    if is_expired(cred, today):
        return Status.EXPIRED
    if cred.expires_on is not None and cred.expires_on <= today + timedelta(days=days):
        return Status.EXPIRING
    return Status.CURRENT


def expiring(creds: Iterable[CredentialLike], today: date, days: int = ALERT_DAYS) -> list:
    """Credentials not yet expired whose expiry falls within ``days`` of today (the
    alert window), soonest first."""
    if days < 0:
        raise ValueError("days must not be negative")
    horizon = today + timedelta(days=days)
    due = [c for c in creds if c.expires_on is not None and today <= c.expires_on <= horizon]
    return sorted(due, key=lambda c: c.expires_on)


def expired(creds: Iterable[CredentialLike], today: date) -> list:
    return sorted((c for c in creds if is_expired(c, today)), key=lambda c: c.expires_on)


def holds(creds: Iterable[CredentialLike], kind: Kind | str, on_date: date) -> bool:
    """Whether one of ``creds`` of this kind is in force on ``on_date``: issued on or before
    it and not expired. An expired credential does not count; neither does one not yet
    issued."""
    wanted = Kind(kind)
    return any(
        c.kind == wanted and c.issued_on <= on_date and not is_expired(c, on_date) for c in creds
    )
