"""Reading credentials: what a person holds now, and the clinic's board."""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch

from kapstone.credentials.models import Credential


def held_by(user) -> list[Credential]:
    """The credentials a person holds now (renewed ones left out), for rules.holds()."""
    return list(Credential.objects.filter(user=user, active=True))


def board():
    """Every active member of staff (anyone with a role) with their active credentials, in three queries."""
    active = Credential.objects.filter(active=True).order_by("kind", "expires_on", "id")
    return (
        get_user_model()
        .objects.filter(is_active=True, role_rows__isnull=False)
        .distinct()
        .order_by("last_name", "first_name", "username")
        .prefetch_related(
            "role_rows", Prefetch("held_credentials", queryset=active, to_attr="current")
        )
    )
