"""Changing the clinic's settings (its changes to the shipped defaults).

One action writes them: the whole set, checked by ``kapstone.clinical.settings_check`` before
anything is saved, under a lock on the clinic's row, with one audit event naming the sections
and key paths changed. The values themselves stay out of the audit trail and of every
message: a setting is free text as far as the trail knows.
"""

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

import tomli_w
from django.db import transaction

from kapstone.access.roles import Permission, Role
from kapstone.audit.recording import record
from kapstone.clinical import gates, settings_check
from kapstone.core.models import Organization
from kapstone.core.permissions import check_permission
from kapstone.errors import AccessDenied, FieldErrors, InvalidInput, InvalidInputs

DOING = "change the clinic's settings"


def check_can_update_settings(user, sections: Iterable[str]) -> None:
    """Clinic admins and the medical director run the clinic's settings; a clinical section
    (eligibility, doses, outcome rules, monitoring...) is the medical director's to answer for,
    so only a prescriber changes one. Raises AccessDenied without the permission, and one
    refusal naming each clinical section otherwise."""
    check_permission(user, Permission.SETTINGS_MANAGE)
    refused = []
    for section in sorted(settings_check.CLINICAL_SECTIONS & set(sections)):
        try:
            gates.check_role(section, user.roles, {Role.PRESCRIBER}, "change a clinical section")
        except gates.Refused as refusal:
            refused.append(refusal)
    if refused:
        raise InvalidInputs(refused)


def can_update_settings(user, sections: Iterable[str]) -> bool:
    try:
        check_can_update_settings(user, sections)
    except (AccessDenied, InvalidInput, InvalidInputs):
        return False
    return True


def _without_empty_sections(overrides: Mapping[str, Any]) -> dict[str, Any]:
    # An empty [section] changes nothing; kept, it would count as a change of that section.
    return {name: value for name, value in overrides.items() if value != {}}


@transaction.atomic
def update_clinic_settings(*, by, overrides: Mapping[str, Any], reason: str) -> Organization:
    """Replace the clinic's settings with ``overrides`` (the whole set, as the settings page
    and ``kapstone settings apply`` give it). Every problem is reported at once; nothing is
    saved unless all pass."""
    check_permission(by, Permission.SETTINGS_MANAGE)
    errors = FieldErrors()
    reason_text = errors.check(gates.check_reason, "reason", reason, DOING)
    if not isinstance(overrides, Mapping):
        errors.add("settings", "must be a table of sections")
        errors.raise_any()
    new = _without_empty_sections(overrides)
    current = Organization.current()
    clinic = Organization.objects.select_for_update().get(pk=current.pk)
    old = dict(clinic.settings_overrides or {})
    sections = settings_check.changed_sections(old, new)
    if not sections:
        errors.add("settings", "are unchanged: there is nothing to save")
    errors.check(check_can_update_settings, by, sections)
    errors.errors.extend(settings_check.check(new))
    errors.raise_any()
    clinic.settings_overrides = new
    clinic.save(update_fields=["settings_overrides", "updated_at"])
    record(
        actor=by,
        action="settings.update",
        target=clinic,
        detail={
            "sections": sorted(sections),
            "keys": settings_check.changed_keys(old, new),
            "clinical": settings_check.is_clinical(sections),
            # The reason is the only record of why the clinic's rules changed; it is the
            # author's own words about the settings, never a value from them.
            "reason": reason_text,
        },
    )
    return clinic


def as_toml(overrides: Mapping[str, Any] | None) -> str:
    """The clinic's settings as TOML, for the settings page and ``kapstone settings show``."""
    return tomli_w.dumps(dict(overrides or {}))


def parse_toml(text: str) -> dict[str, Any]:
    """Settings written as TOML. A syntax error is an InvalidInput naming the line and column
    (tomllib's message gives the place and what it expected, never the text found)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput("settings", f"are not valid TOML: {error}") from None
