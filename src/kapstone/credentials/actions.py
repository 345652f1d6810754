"""Every write to staff credentials goes through these functions.

Each checks who is acting, validates every field at once (naming the field and the rule,
never the value), writes in one transaction and records one audit event naming the fields
set. Which kinds must carry an expiry date is kapstone.credentials.rules.
"""

from datetime import date

from django.db import transaction
from django.utils import timezone

from kapstone.access.roles import Permission
from kapstone.audit.recording import record
from kapstone.core.permissions import check_permission
from kapstone.credentials import rules
from kapstone.credentials.models import Credential
from kapstone.errors import InvalidInput, InvalidInputs

TEXT_LIMITS = {"identifier": 60, "issuer": 120, "jurisdiction": 60, "document_note": 200}


def _validate(
    *,
    kind: str,
    identifier: str,
    issued_on: date | None,
    expires_on: date | None,
    texts: dict[str, str],
) -> list[InvalidInput]:
    errors = []
    known = kind in {k.value for k in rules.Kind}
    if not known:
        errors.append(InvalidInput("kind", "must be one of the listed kinds"))
    for name, value in texts.items():
        if len(value) > TEXT_LIMITS[name]:
            errors.append(InvalidInput(name, f"must be at most {TEXT_LIMITS[name]} characters"))
    if known and rules.Kind(kind) in rules.NUMBERED_KINDS and not identifier:
        errors.append(InvalidInput("identifier", "is required for this kind of credential"))
    if issued_on is None:
        errors.append(InvalidInput("issued_on", "is required"))
    elif issued_on > timezone.localdate():
        errors.append(InvalidInput("issued_on", "cannot be in the future"))
    if expires_on is None:
        if known and rules.expires(kind):
            errors.append(InvalidInput("expires_on", "is required for this kind of credential"))
    elif issued_on is not None and expires_on <= issued_on:
        errors.append(InvalidInput("expires_on", "must be after the date of issue"))
    return errors


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _duplicate(user, kind: str, identifier: str, exclude: int | None = None) -> bool:
    rows = Credential.objects.filter(user=user, kind=kind, identifier=identifier, active=True)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.exists()


@transaction.atomic
def add_credential(
    *,
    by,
    user,
    kind: str,
    issued_on: date | None,
    expires_on: date | None = None,
    identifier: str = "",
    issuer: str = "",
    jurisdiction: str = "",
    document_note: str = "",
) -> Credential:
    """Record a credential a member of staff holds."""
    check_permission(by, Permission.CREDENTIALS_MANAGE)
    texts = {
        "identifier": _clean(identifier),
        "issuer": _clean(issuer),
        "jurisdiction": _clean(jurisdiction),
        "document_note": _clean(document_note),
    }
    errors = _validate(
        kind=kind,
        identifier=texts["identifier"],
        issued_on=issued_on,
        expires_on=expires_on,
        texts=texts,
    )
    if not errors and _duplicate(user, kind, texts["identifier"]):
        errors.append(
            InvalidInput(
                "identifier", "is already on record for this person and kind: renew it instead"
            )
        )
    if errors:
        raise InvalidInputs(errors)
    credential = Credential.objects.create(
        user=user, kind=kind, issued_on=issued_on, expires_on=expires_on, added_by=by, **texts
    )
    record(
        actor=by,
        action="credential.add",
        target=credential,
        detail={
            "staff": user.pk,
            "kind": kind,
            "fields": sorted(
                ["kind", "issued_on", *(["expires_on"] if expires_on else [])]
                + [name for name, value in texts.items() if value]
            ),
        },
    )
    return credential


@transaction.atomic
def renew_credential(
    *,
    by,
    credential: Credential,
    issued_on: date | None,
    expires_on: date | None = None,
    identifier: str | None = None,
    document_note: str = "",
) -> Credential:
    """A new card or registration replaces the old one. The old row stays, inactive, and
    no longer counts; the new one is unverified until someone checks it."""
    check_permission(by, Permission.CREDENTIALS_MANAGE)
    old = Credential.objects.select_for_update().get(pk=credential.pk)
    if not old.active:
        raise InvalidInput("credential", "has already been renewed or replaced")
    texts = {
        "identifier": old.identifier if identifier is None else _clean(identifier),
        "issuer": old.issuer,
        "jurisdiction": old.jurisdiction,
        "document_note": _clean(document_note),
    }
    errors = _validate(
        kind=old.kind,
        identifier=texts["identifier"],
        issued_on=issued_on,
        expires_on=expires_on,
        texts=texts,
    )
    if not errors and issued_on < old.issued_on:
        errors.append(InvalidInput("issued_on", "cannot be before the credential it renews"))
    if not errors and _duplicate(old.user, old.kind, texts["identifier"], exclude=old.pk):
        errors.append(InvalidInput("identifier", "is already on record for this person and kind"))
    if errors:
        raise InvalidInputs(errors)
    old.active = False
    old.save(update_fields=["active"])
    new = Credential.objects.create(
        user=old.user,
        kind=old.kind,
        issued_on=issued_on,
        expires_on=expires_on,
        replaces=old,
        added_by=by,
        **texts,
    )
    record(
        actor=by,
        action="credential.renew",
        target=new,
        detail={
            "staff": old.user_id,
            "kind": old.kind,
            "replaces": old.pk,
            "fields": ["issued_on", "expires_on"]
            + (["identifier"] if texts["identifier"] != old.identifier else [])
            + (["document_note"] if texts["document_note"] else []),
        },
    )
    return new


@transaction.atomic
def verify_credential(*, by, credential: Credential) -> Credential:
    """Someone has checked the document against its issuer (primary-source verification).
    Nobody verifies their own."""
    check_permission(by, Permission.CREDENTIALS_MANAGE)
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    errors = []
    if credential.user_id == by.pk:
        errors.append(InvalidInput("credential", "cannot be verified by the person who holds it"))
    if credential.verified_at is not None:
        errors.append(InvalidInput("credential", "has already been verified"))
    if not credential.active:
        errors.append(InvalidInput("credential", "has been replaced by a renewal"))
    if errors:
        raise InvalidInputs(errors)
    credential.verified_by = by
    credential.verified_at = timezone.now()
    credential.save(update_fields=["verified_by", "verified_at"])
    record(
        actor=by,
        action="credential.verify",
        target=credential,
        detail={"staff": credential.user_id, "kind": credential.kind},
    )
    return credential
