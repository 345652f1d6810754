"""The worker's daily credential check: the clinic admins hear once about each credential
entering the 60-day window before it expires (staff details only, no patient data)."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kapstone.access.roles import Permission, roles_with
from kapstone.credentials import rules
from kapstone.credentials.models import Credential

log = logging.getLogger(__name__)


def admin_recipients() -> list[str]:
    return sorted(
        get_user_model()
        .objects.filter(
            is_active=True, role_rows__role__in=roles_with(Permission.CREDENTIALS_MANAGE)
        )
        .exclude(email="")
        .distinct()
        .values_list("email", flat=True)
    )


def alert_expiring_credentials(today: date | None = None) -> int:
    """E-mail the clinic admins about each active credential whose expiry is within the
    alert window (or already past) and that has not been mailed about. A renewal is a new
    row, so it is mailed about afresh when its own time comes. Returns the number mailed."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=rules.ALERT_DAYS)
    recipients = admin_recipients()
    sent = 0
    with transaction.atomic():
        due = (
            Credential.objects.select_for_update()
            .select_related("user")
            .filter(active=True, expiry_alerted_at__isnull=True, expires_on__lte=horizon)
            .order_by("expires_on", "id")
        )
        for credential in due:
            if recipients:
                send_mail(
                    subject="Kapstone: a staff credential is due for renewal",
                    message=_message(credential, today),
                    from_email=None,
                    recipient_list=recipients,
                )
            else:
                log.warning("credential %s: no clinic admin has an e-mail address", credential.pk)
            credential.expiry_alerted_at = timezone.now()
            credential.save(update_fields=["expiry_alerted_at"])
            sent += 1
    return sent


def _message(credential: Credential, today: date) -> str:
    when = credential.expires_on
    state = "expired on" if rules.is_expired(credential, today) else "expires on"
    link = settings.KAPSTONE_BASE_URL.rstrip("/") + reverse(
        "credential_staff", args=[credential.user_id]
    )
    return (
        f"{credential.user.display_name}'s {credential.label} {state} {when:%d %B %Y}.\n"
        "Record the renewal in Kapstone when it arrives:\n\n"
        f"{link}\n"
    )


@db_periodic_task(crontab(hour="6", minute="15"))
def daily_credential_check() -> int:
    return alert_expiring_credentials()
