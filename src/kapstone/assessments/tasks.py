"""Background work for measurement-based care, run by the worker (Huey).

E-mails carry no patient data: a clinician's alert mail says an alert is waiting and links to
it behind sign-in; a patient's mail links to their questionnaire. A failed send is retried;
the dashboard shows an alert whether or not its mail has gone.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from kapstone.access.roles import Permission, roles_with
from kapstone.assessments.models import CheckIn, RiskAlert
from kapstone.core.models import Organization

log = logging.getLogger(__name__)


def _absolute(path: str) -> str:
    return settings.KAPSTONE_BASE_URL.rstrip("/") + path


def alert_recipients(alert: RiskAlert) -> list[str]:
    """The clinicians who can act on an alert: those at the patient's home site, or every
    one of them when the patient has no site or nobody is assigned there."""
    clinicians = (
        get_user_model()
        .objects.filter(
            is_active=True, role_rows__role__in=roles_with(Permission.ALERT_ACKNOWLEDGE)
        )
        .exclude(email="")
        .distinct()
    )
    site_id = alert.patient.home_site_id
    at_site = clinicians.filter(sites=site_id) if site_id else clinicians.none()
    chosen = at_site if at_site.exists() else clinicians
    return sorted(chosen.values_list("email", flat=True))


@db_task(retries=3, retry_delay=60)
def notify_clinicians_of_alert(alert_id: int) -> int:
    with transaction.atomic():
        alert = (
            RiskAlert.objects.select_for_update()
            .select_related("patient")
            .filter(pk=alert_id, notified_at__isnull=True)
            .first()
        )
        if alert is None:
            return 0
        recipients = alert_recipients(alert)
        if recipients:
            send_mail(
                subject="Kapstone: urgent questionnaire alert",
                message=(
                    "A patient's questionnaire answers raised an urgent suicide-risk alert.\n"
                    "Open it, act, and record what you did:\n\n"
                    f"{_absolute(reverse('alert_detail', args=[alert.pk]))}\n\n"
                    "The alert stays on the dashboard until a clinician acknowledges it."
                ),
                from_email=None,
                recipient_list=recipients,
            )
        else:
            log.warning("risk alert %s: no clinician has an e-mail address", alert.pk)
        alert.notified_at = timezone.now()
        alert.save(update_fields=["notified_at"])
        return len(recipients)


def crisis_lines() -> list[dict[str, str]]:
    return Organization.current().config.crisis_lines


def _checkin_mail(checkin: CheckIn, *, reminder: bool) -> None:
    from kapstone.assessments.actions import link_token

    link = _absolute(reverse("checkin_answer", args=[link_token(checkin)]))
    opening = (
        "A reminder: your clinic's questionnaire is still waiting for you."
        if reminder
        else "Your clinic has asked you to answer a short questionnaire."
    )
    send_mail(
        subject="Your questionnaire from the clinic",
        message=(
            f"{opening}\n\n{link}\n\n"
            f"The link works once and closes on {timezone.localtime(checkin.expires_at):%A %d %B at %H:%M}.\n"
            "If you are in crisis or thinking about harming yourself, do not wait for the "
            "clinic:\n" + "\n".join(f"- {line['name']}: {line['how']}" for line in crisis_lines())
        ),
        from_email=None,
        recipient_list=[checkin.patient.email],
    )


@db_task(retries=3, retry_delay=60)
def email_checkin(checkin_id: int) -> bool:
    with transaction.atomic():
        checkin = (
            CheckIn.objects.select_for_update()
            .select_related("patient")
            .filter(pk=checkin_id, status=CheckIn.Status.PENDING, emailed_at__isnull=True)
            .first()
        )
        if checkin is None or not checkin.patient.email:
            return False
        _checkin_mail(checkin, reminder=False)
        checkin.emailed_at = timezone.now()
        checkin.save(update_fields=["emailed_at"])
        return True


# ---------------------------------------------------------------------------------------------
# Scheduled check-ins: the worker's periodic run


def send_reminder_mail(checkin: CheckIn) -> None:
    """The reminder for an overdue check-in: the same link, which still works once."""
    _checkin_mail(checkin, reminder=True)


@db_periodic_task(crontab(minute="*"))
def run_checkin_schedules() -> dict[str, int]:
    """Every minute: close links past their time, make the scheduled check-ins that have
    fallen due (and e-mail them), and remind patients whose check-in is overdue."""
    from kapstone.assessments import actions

    now = timezone.now()
    return {
        "expired": actions.expire_checkins(now),
        "made": len(actions.materialize_due_checkins(now)),
        "reminded": actions.send_reminders(now),
    }
