"""Who may run which session: the role and credentials each kind of session needs.

    session = SessionSpec(kind="dosing", route="iv")
    required_credentials(session)                  # {"acls"}: the assigned clinician's
    required_credentials(session, "on_site")       # set(): nobody else needed on site
    check_staff_can_cover(staff, session, on_date) # InvalidInput naming the missing credential
    expiring(credentials, today, days=60)          # credentials running out soon

Reviewed data (``data/credential_rules.toml``): each rule cites clinical-facts.md §6 or says
it has no source. A credential counts only on dates up to and including its expiry date.
Pure Python.
"""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from kapstone.errors import InvalidInput


class Kind(StrEnum):
    DOSING = "dosing"
    INTEGRATION = "integration"

    @property
    def label(self) -> str:
        return {"dosing": "Dosing session", "integration": "Integration session"}[self.value]


class Presence(StrEnum):
    ASSIGNED = "assigned"  # the session's clinician holds it
    ON_SITE = "on_site"  # someone holding it is on site for the whole session


@dataclass(frozen=True)
class SessionSpec:
    """What a session is, as far as staffing goes: dosing by a route, or integration in a
    modality."""

    kind: Kind
    route: str | None = None
    modality: str | None = None


@dataclass(frozen=True)
class Requirement:
    id: str
    kind: Kind
    credential: str
    presence: Presence
    rule: str
    source: str
    routes: frozenset[str] = frozenset()
    modalities: frozenset[str] = frozenset()

    def applies_to(self, session: SessionSpec) -> bool:
        if session.kind is not self.kind:
            return False
        if self.routes and session.route not in self.routes:
            return False
        return not self.modalities or session.modality in self.modalities


@dataclass(frozen=True)
class Credential:
    """A credential a staff member holds (``code`` as the credentials app's kinds: acls, emdr,
    ifs, art...), good from its issue date through its expiry date; None: no limit."""

    code: str
    expires: date | None = None
    issued: date | None = None

    def current_on(self, day: date) -> bool:
        started = self.issued is None or self.issued <= day
        return started and (self.expires is None or day <= self.expires)


@dataclass(frozen=True)
class RuleSet:
    labels: Mapping[str, str]
    roles: Mapping[Kind, frozenset[str]]
    roles_source: str
    requirements: tuple[Requirement, ...]

    def label(self, credential: str) -> str:
        return self.labels.get(credential, credential)


def _parse(raw: Mapping[str, Any]) -> RuleSet:
    labels = {code: table["label"] for code, table in raw["credentials"].items()}
    roles = {Kind(kind): frozenset(raw["roles"][kind]) for kind in ("dosing", "integration")}
    requirements = []
    for entry in raw["rules"]:
        if entry["credential"] not in labels:
            raise ValueError(f"rules.{entry['id']}: unknown credential {entry['credential']}")
        if not entry.get("source"):
            raise ValueError(f"rules.{entry['id']}: every rule names its source")
        requirements.append(
            Requirement(
                id=entry["id"],
                kind=Kind(entry["kind"]),
                credential=entry["credential"],
                presence=Presence(entry["presence"]),
                rule=entry["rule"],
                source=entry["source"],
                routes=frozenset(entry.get("routes", ())),
                modalities=frozenset(entry.get("modalities", ())),
            )
        )
    return RuleSet(labels, roles, raw["roles"]["source"], tuple(requirements))


@cache
def rule_set() -> RuleSet:
    """The shipped credential rules."""
    text = resources.files("kapstone.scheduling").joinpath("data/credential_rules.toml")
    return _parse(tomllib.loads(text.read_text()))


def requirements(session: SessionSpec, rules: RuleSet | None = None) -> tuple[Requirement, ...]:
    rules = rules or rule_set()
    return tuple(r for r in rules.requirements if r.applies_to(session))


def required_credentials(
    session: SessionSpec, presence: Presence = Presence.ASSIGNED, rules: RuleSet | None = None
) -> frozenset[str]:
    """The credentials a session needs: held by its clinician (``assigned``) or by someone on
    site for the whole session (``on_site``)."""
    return frozenset(
        r.credential for r in requirements(session, rules) if r.presence is Presence(presence)
    )


def allowed_roles(session: SessionSpec, rules: RuleSet | None = None) -> frozenset[str]:
    return (rules or rule_set()).roles[Kind(session.kind)]


def current(credentials: Iterable[Credential], on_date: date) -> frozenset[str]:
    return frozenset(c.code for c in credentials if c.current_on(on_date))


def missing_credentials(
    credentials: Iterable[Credential],
    session: SessionSpec,
    on_date: date,
    rules: RuleSet | None = None,
) -> frozenset[str]:
    """What the assigned clinician lacks on that date (expired credentials do not count)."""
    return required_credentials(session, Presence.ASSIGNED, rules) - current(credentials, on_date)


def check_staff_can_cover(
    credentials: Iterable[Credential],
    session: SessionSpec,
    on_date: date,
    roles: Iterable[str] | None = None,
    rules: RuleSet | None = None,
) -> None:
    """Refuse a clinician who cannot run the session (InvalidInput naming the rule). With
    ``roles`` given, the clinician's role is checked too."""
    rules = rules or rule_set()
    if roles is not None and not set(roles) & allowed_roles(session, rules):
        needed = " or ".join(sorted(allowed_roles(session, rules)))
        raise InvalidInput("staff", f"a {Kind(session.kind).value} session is run by a {needed}")
    missing = missing_credentials(credentials, session, on_date, rules)
    if missing:
        by_credential = {r.credential: r for r in requirements(session, rules)}
        rule = by_credential[min(missing)]
        raise InvalidInput("staff", f"needs a current {rules.label(rule.credential)} ({rule.rule})")


def expiring(
    credentials: Iterable[Credential], today: date, days: int = 60
) -> tuple[Credential, ...]:
    """Credentials that expire from today to ``days`` ahead, soonest first (expired ones
    are not listed: they no longer count)."""
    last = today + timedelta(days=days)
    soon = [c for c in credentials if c.expires is not None and today <= c.expires <= last]
    return tuple(sorted(soon, key=lambda c: (c.expires, c.code)))
