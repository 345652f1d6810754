"""Background work for dosing sessions, run by the worker (Huey).

A severe adverse event (CTCAE grade 3 or above, clinical-facts.md §2.6) e-mails the session's
prescriber at once. The mail carries no patient data: it says an event is waiting and links
to the session behind sign-in.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from huey.contrib.djhuey import db_task

from kapstone.dosing.models import AdverseEvent

log = logging.getLogger(__name__)


def _absolute(path: str) -> str:
    return settings.KAPSTONE_BASE_URL.rstrip("/") + path


@db_task(retries=3, retry_delay=60)
def notify_prescriber_of_adverse_event(event_id: int) -> int:
    with transaction.atomic():
        event = (
            AdverseEvent.objects.select_for_update()
            .select_related("session__prescriber")
            .filter(pk=event_id, notified_at__isnull=True)
            .first()
        )
        if event is None:
            return 0
        prescriber = event.session.prescriber
        sent = 0
        if prescriber.email:
            send_mail(
                subject="Kapstone: severe adverse event in a dosing session",
                message=(
                    f"A grade {event.grade} adverse event was recorded in a dosing session "
                    "you prescribe for.\nOpen the session to review it:\n\n"
                    f"{_absolute(reverse('dosing_session', args=[event.session_id]))}\n"
                ),
                from_email=None,
                recipient_list=[prescriber.email],
            )
            sent = 1
        else:
            log.warning("adverse event %s: the prescriber has no e-mail address", event.pk)
        event.notified_at = timezone.now()
        event.save(update_fields=["notified_at"])
        return sent
