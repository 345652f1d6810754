from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.backends import ModelBackend
from django.db.models import FilteredRelation, Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Role
from kapstone.core.prepared import Prepared, build_instances
from kapstone.staff.models import User

_DEVICE_FIELDS = [field.attname for field in TOTPDevice._meta.concrete_fields]
_USER_WIDTH = len(User._meta.concrete_fields)


def user_columns(user: str, device: str) -> list[str]:
    """What ``user_from_rows`` reads, as lookups: the user's fields (``user`` leads to the
    user, "" from the user itself), a role, and the fields of a confirmed authenticator
    (``device`` leads to a FilteredRelation of the user's confirmed TOTP devices)."""
    return [
        *(user + field.attname for field in User._meta.concrete_fields),
        user + "role_rows__role",
        *(device + name for name in _DEVICE_FIELDS),
    ]


def confirmed_devices(path: str) -> FilteredRelation:
    """The confirmed TOTP devices at the end of ``path``."""
    return FilteredRelation(path, condition=Q(**{f"{path}__confirmed": True}))


# The user, their roles and their confirmed authenticators in one query: a row per role and
# device (a member of staff has a few roles and usually one device). Read afresh on every
# request, so a role taken away or an authenticator reset counts from the next request on.
# Signed-in requests read the same with their session (kapstone.staff.sessions).
_USER = Prepared(
    lambda user_id: (
        User.objects.filter(pk=user_id)
        .annotate(confirmed_device=confirmed_devices("totpdevice"))
        .values_list(*user_columns("", "confirmed_device__"))
        .order_by()
    )
)


def user_id_from(value) -> int | None:
    """A user id as a session stores it (text), or None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_user(user_id) -> User | None:
    """The user with `roles` and `confirmed_totp_devices` (by persistent id) filled in."""
    user_id = user_id_from(user_id)
    if user_id is None:
        return None
    rows = _USER.rows(user_id)
    return user_from_rows(rows) if rows else None


def user_from_rows(rows) -> User:
    """The user from rows of ``user_columns`` (at least one), as ``load_user`` gives it."""
    user = build_instances(User, [rows[0][:_USER_WIDTH]], User.objects.db)[0]
    roles = set()
    devices = {}
    for row in rows:
        role, device_row = row[_USER_WIDTH], row[_USER_WIDTH + 1 :]
        if role is not None:
            roles.add(Role(role))
        if device_row[0] is not None and device_row[0] not in devices:
            devices[device_row[0]] = device_row
    # What User.roles would have read with its own query.
    user.__dict__["roles"] = frozenset(roles)
    found = build_instances(TOTPDevice, list(devices.values()), TOTPDevice.objects.db)
    for device in found:
        TOTPDevice._meta.get_field("user").set_cached_value(device, user)
    user.confirmed_totp_devices = {device.persistent_id: device for device in found}
    return user


# A user already read for this request (with its session), which get_user takes instead of
# reading it again when it is the one asked for.
_offered: ContextVar[User | None] = ContextVar("kapstone_offered_user", default=None)


@contextmanager
def offering(user: User | None) -> Iterator[None]:
    token = _offered.set(user)
    try:
        yield
    finally:
        _offered.reset(token)


class StaffBackend(ModelBackend):
    """Loads the user, their roles and their confirmed authenticators in one query per
    request, not one per check (none when the session brought them: see ``offering``)."""

    def get_user(self, user_id):
        user = _offered.get()
        if user is None or str(user.pk) != str(user_id):
            user = load_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
