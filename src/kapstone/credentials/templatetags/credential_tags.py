from datetime import timedelta

from django import template
from django.utils import timezone

from kapstone.credentials import rules
from kapstone.credentials.models import Credential

register = template.Library()


@register.simple_tag
def credentials_needing_attention() -> int:
    """Active credentials expired or expiring within the alert window (the home card)."""
    horizon = timezone.localdate() + timedelta(days=rules.ALERT_DAYS)
    return Credential.objects.filter(active=True, expires_on__lte=horizon).count()
