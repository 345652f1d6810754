"""Jinja2 for the pages drawn most often: the patient list and the chart (ADR 0012).

Django's template language stays the engine for every other page and is searched first;
a page moves here by moving its template from ``templates/`` to ``jinja2/`` in its app. The
environment gives those templates what Django's tags gave them, with Django's meaning:
``url()`` (routes reversed once per shape, kapstone.core.reversing), ``static()``, the
filters below, the main navigation, and on each page ``request``, ``csrf_input``,
``csrf_token`` and what the context processors in settings.TEMPLATES add.
"""

import functools

import jinja2
from django.middleware.csrf import get_token
from django.template import TemplateSyntaxError, defaultfilters
from django.template.backends import jinja2 as django_jinja2
from django.templatetags.static import static
from django.test.signals import template_rendered
from django.utils.html import conditional_escape, format_html
from django_htmx.jinja import htmx_script

from kapstone.core import reversing
from kapstone.core.templatetags.kapstone import main_nav_html

# Where the page's links are reversed (URL configuration and script prefix), read once per
# page rendered: reading it per link cost more than the rest of the link.
_PLACE = "kapstone_url_place"


@jinja2.pass_context
def _url(context, view_name: str, *args) -> str:
    place = context.get(_PLACE) or reversing.where()
    return reversing.url(view_name, *args, escape=conditional_escape, place=place)


def _default(value, fallback):
    """Django's ``default``: the fallback for any false value (Jinja's own only replaces
    an undefined one)."""
    return value or fallback


# A static file's address and the htmx script tag are fixed for the life of the process (the
# manifest is read at start-up); worked out once, not on every page.
_static = functools.lru_cache(maxsize=256)(static)
_htmx_script = functools.cache(htmx_script)


def environment(**options) -> jinja2.Environment:
    # Like Django's templates: a template's last newline is part of it.
    options.setdefault("keep_trailing_newline", True)
    # Always on, whatever the settings say: every value is escaped unless marked safe.
    options.pop("autoescape", None)
    env = jinja2.Environment(autoescape=True, **options)
    env.globals.update(
        url=_url,
        static=_static,
        htmx_script=_htmx_script,
        main_nav=lambda kperms: main_nav_html(kperms, reversing.where()),
    )
    env.filters.update(
        date=defaultfilters.date,
        default=_default,
        pluralize=defaultfilters.pluralize,
        slugify=defaultfilters.slugify,
        escapejs=defaultfilters.escapejs_filter,
        urlencode=defaultfilters.urlencode,
    )
    return env


class Jinja2(django_jinja2.Jinja2):
    """Django's Jinja2 backend, reading the URL configuration once per page and telling the
    test client what it rendered, as Django's own templates do in tests."""

    def from_string(self, template_code):
        return Template(self.env.from_string(template_code), self)

    def get_template(self, template_name):
        return Template(super().get_template(template_name).template, self)


class Template(django_jinja2.Template):
    def __init__(self, template, backend):
        super().__init__(template, backend)
        self.name = template.name

    def render(self, context=None, request=None):
        context = {} if context is None else dict(context)
        context[_PLACE] = reversing.where()
        if request is not None:
            # The token masked once per page: Django's backend masks it afresh each time a
            # form on the page shows it, which cost more than drawing the rest of the chart.
            token = get_token(request)
            context.update(
                request=request,
                csrf_token=token,
                csrf_input=format_html(
                    '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token
                ),
            )
            for processor in self.backend.template_context_processors:
                context.update(processor(request))
        try:
            html = self.template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            error = TemplateSyntaxError(exc.args)
            error.template_debug = django_jinja2.get_exception_info(exc)
            raise error from exc
        # Only the test client listens: it collects each page's templates and context.
        if template_rendered.has_listeners():
            template_rendered.send(sender=self, template=self, context=context)
        return html
