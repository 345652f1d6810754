"""Safety gates shared by the clinical rules: who may sign, override or co-sign, and with what.

Gates come in pairs (ADR 0004): ``check_can_x`` raises ``Refused`` naming the field and the
rule, and ``can_x`` answers yes or no for a template. A refusal is an ``InvalidInput``, so a
form shows it beside the field it names. Pure Python.
"""

from collections.abc import Callable, Iterable
from typing import Any

from kapstone.access.roles import Role
from kapstone.errors import InvalidInput

# A written reason is kept in the audit trail; a word or two ("ok", "see notes") explains
# nothing to the next reader. An engineering floor, not a clinical rule.
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 2000


class Refused(InvalidInput):
    """The clinic's rules refuse this step (wrong role, no reason, a frozen record)."""


def roles_of(roles: Iterable[Role | str]) -> frozenset[Role]:
    """The roles given, ignoring any name that is not a role: an unknown name grants nothing."""
    known = set()
    for role in roles:
        try:
            known.add(Role(role))
        except ValueError:
            continue
    return frozenset(known)


def check_role(field: str, roles: Iterable[Role | str], allowed: Iterable[Role], doing: str):
    granted = roles_of(roles)
    allowed = frozenset(allowed)
    if not granted & allowed:
        names = " or ".join(sorted(role.label.lower() for role in allowed))
        raise Refused(field, f"only a {names} can {doing}")


def check_reason(field: str, reason: str | None, doing: str) -> str:
    """The reason, trimmed; refused when missing, too short to explain anything, or too long."""
    text = (reason or "").strip()
    if not text:
        raise Refused(field, f"is required: write why you {doing}")
    if len(text) < MIN_REASON_CHARS:
        raise Refused(
            field, f"must be at least {MIN_REASON_CHARS} characters: write why you {doing}"
        )
    if len(text) > MAX_REASON_CHARS:
        raise Refused(field, f"must be at most {MAX_REASON_CHARS} characters")
    return text


def allowed(check: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """``can_x`` from ``check_can_x``: True when the check passes."""
    try:
        check(*args, **kwargs)
    except InvalidInput:
        return False
    return True
