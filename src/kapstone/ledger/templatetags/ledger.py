from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def qty(value) -> str:
    """A quantity as written on a chart: 35.15, 400, 7.9 (no trailing zeros, never rounded)."""
    if value is None or value == "":
        return ""
    return format(Decimal(value).normalize(), "f")
