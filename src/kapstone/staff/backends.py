from django.contrib.auth.backends import ModelBackend
from django.db.models import F, FilteredRelation, Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Role
from kapstone.core.prepared import Prepared, build_instances
from kapstone.staff.models import User

_DEVICE_FIELDS = [field.attname for field in TOTPDevice._meta.concrete_fields]
_USER_WIDTH = len(User._meta.concrete_fields)

# The user, their roles and their confirmed authenticators in one query: a row per role and
# device (a member of staff has a few roles and usually one device). Read afresh on every
# request, so a role taken away or an authenticator reset counts from the next request on.
_USER = Prepared(
    lambda user_id: (
        User.objects.filter(pk=user_id)
        .annotate(
            confirmed_device=FilteredRelation("totpdevice", condition=Q(totpdevice__confirmed=True))
        )
        .annotate(
            kapstone_role=F("role_rows__role"),
            **{
                f"kapstone_device_{name}": F(f"confirmed_device__{name}") for name in _DEVICE_FIELDS
            },
        )
        .order_by()
    )
)


def load_user(user_id) -> User | None:
    """The user with `roles` and `confirmed_totp_devices` (by persistent id) filled in."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    rows = _USER.rows(user_id)
    if not rows:
        return None
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


class StaffBackend(ModelBackend):
    """Loads the user, their roles and their confirmed authenticators in one query per
    request, not one per check."""

    def get_user(self, user_id):
        user = load_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
