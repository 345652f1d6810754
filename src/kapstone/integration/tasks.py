"""Background work for home practice, run by the worker (Huey).

A patient's practice-link mail carries the link and when it closes, and nothing else: no
name, no practice, nothing about their treatment.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from huey.contrib.djhuey import db_task

from kapstone.integration.models import PracticeLink


@db_task(retries=3, retry_delay=60)
def email_practice_link(link_id: int) -> bool:
    from kapstone.integration.actions import practice_token

    with transaction.atomic():
        link = (
            PracticeLink.objects.select_for_update()
            .select_related("patient")
            .filter(
                pk=link_id,
                revoked_at__isnull=True,
                emailed_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        if link is None or not link.patient.email:
            return False
        address = settings.KAPSTONE_BASE_URL.rstrip("/") + reverse(
            "practice_page", args=[practice_token(link)]
        )
        send_mail(
            subject="Your home practice link from the clinic",
            message=(
                "Your clinic has set you some practice to do at home. This link shows what "
                "to do and lets you note each time you do it:\n\n"
                f"{address}\n\n"
                "Keep it to yourself: anyone with the link can see your practice list. It "
                f"works until {timezone.localtime(link.expires_at):%A %d %B}, or until the "
                "clinic sends you a new one."
            ),
            from_email=None,
            recipient_list=[link.patient.email],
        )
        link.emailed_at = timezone.now()
        link.save(update_fields=["emailed_at"])
        return True
