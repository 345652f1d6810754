"""Every change to staff accounts goes through these functions, each in one transaction with
its audit event."""

import secrets
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Permission, Role
from kapstone.audit.recording import record
from kapstone.core.permissions import check_permission
from kapstone.errors import InvalidInput
from kapstone.staff.models import ApiToken, StaffRole, User


@transaction.atomic
def create_staff(
    *,
    by: User | None,
    username: str,
    password: str | None,
    roles: list[Role],
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    credentials: str = "",
    sites=(),
    check_password_strength: bool = True,
) -> User:
    """Create a staff account. `by=None` is the system itself (the demo, the command line)."""
    if by is not None:
        check_permission(by, Permission.STAFF_MANAGE)
        # An account made by hand is for a person doing a job; it needs a role to do it.
        if not roles:
            raise InvalidInput("roles", "choose at least one role")
    if User.objects.filter(username=username).exists():
        raise InvalidInput("username", "is already taken")
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        credentials=credentials,
    )
    if password:
        if check_password_strength:
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise InvalidInput("password", " ".join(error.messages)) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    StaffRole.objects.bulk_create(StaffRole(user=user, role=Role(role).value) for role in roles)
    if sites:
        user.sites.set(sites)
    record(
        actor=by,
        action="staff.create",
        target=user,
        detail={"roles": sorted(Role(r).value for r in roles)},
    )
    return user


@transaction.atomic
def reset_two_factor(*, by: User, user: User) -> int:
    """Remove a user's authenticators (a lost phone): they pair a new one at next sign-in.

    Their open sessions lose their verified state at once, because verification is tied to
    the device that was removed."""
    check_permission(by, Permission.STAFF_MANAGE)
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    record(actor=by, action="staff.reset_two_factor", target=user, detail={"devices": removed})
    return removed


@transaction.atomic
def issue_api_token(
    *, by: User | None, user: User, name: str, expires_at: datetime | None = None
) -> str:
    """Create a token and return it; it cannot be read back later."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        key_hash=ApiToken.hash_key(secret),
        expires_at=expires_at,
    )
    record(actor=by, action="api_token.issue", target=token, detail={"for_user": user.pk})
    return f"kap_{prefix}_{secret}"


@transaction.atomic
def revoke_api_token(*, by: User | None, token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(actor=by, action="api_token.revoke", target=token)
