from functools import lru_cache

from django import template
from django.template.loader import render_to_string

from kapstone.core import reversing

register = template.Library()


@register.filter
def lookup(mapping, key):
    return mapping.get(key, "") if mapping else ""


@register.simple_tag(takes_context=True)
def main_nav(context):
    return main_nav_html(context.get("kperms", ()), reversing.where())


def main_nav_html(kperms, place: tuple[str, str]) -> str:
    """The main navigation, which depends only on what the user may do: rendered once per
    set of permissions (there are as many as there are combinations of roles) instead of
    testing each link on every page. ``place`` is where links are reversed
    (reversing.where())."""
    return _main_nav(frozenset(kperms), place)


@lru_cache(maxsize=256)
def _main_nav(kperms: frozenset[str], place: tuple[str, str]) -> str:
    return render_to_string("core/_nav.html", {"kperms": kperms})
