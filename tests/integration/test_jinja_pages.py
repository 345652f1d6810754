"""The pages drawn with Jinja2 (ADR 0012): the same page around their content as Django's
templates draw, Django's meaning for the filters they use, one CSRF token per page."""

import re

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.middleware.csrf import _does_token_match, _unmask_cipher_token, get_token
from django.template import engines
from django.test import RequestFactory
from django.urls import reverse
from django.utils.html import conditional_escape

from kapstone.access.roles import Role
from kapstone.staff.backends import load_user

pytestmark = pytest.mark.django_db

DJANGO, JINJA = engines["django"], engines["jinja2"]
_TOKENS = re.compile(r'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')


def _same_page(html: str) -> str:
    """The page with its masked CSRF tokens blanked (masked afresh on every page) and runs
    of whitespace between tags made one space."""
    return re.sub(r"\s+", " ", _TOKENS.sub(r"\1", html)).strip()


def _request(user=None):
    request = RequestFactory().get("/patients/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    if user is not None:
        request.user = load_user(user.pk)
    else:
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
    return request


@pytest.mark.parametrize(
    "roles",
    [(Role.NURSE,), (Role.FRONT_DESK,), (Role.CLINIC_ADMIN,), (Role.RESEARCHER,), None],
    ids=["nurse", "front desk", "admin", "researcher", "signed out"],
)
def test_both_bases_draw_the_same_page_around_the_same_content(make_staff, roles):
    request = _request(make_staff(*roles) if roles else None)
    from django.contrib import messages

    messages.info(request, "Saved <then> shown once.")
    body = "{% block title %}A title{% endblock %}{% block content %}<p>Body</p>{% endblock %}"
    django_page = DJANGO.from_string('{% extends "base.html" %}' + body).render({}, request)
    # Messages stay stored until the response is sent: the second page shows the same one.
    jinja_page = JINJA.from_string('{% extends "base.html" %}' + body).render({}, request)
    assert "<p>Body</p>" in jinja_page
    assert "Saved &lt;then&gt; shown once." in jinja_page
    assert _same_page(jinja_page) == _same_page(django_page)


@pytest.mark.parametrize(
    "cell",
    [
        {"percent": None, "done": 0, "expected": 0},
        {"percent": 100, "done": 1, "expected": 1},
        {"percent": 43, "done": 3, "expected": 7},
    ],
)
def test_both_adherence_cells_draw_the_same_cell(cell):
    name = "integration/_adherence_cell.html"
    django_cell = DJANGO.get_template(name).render({"a": cell})
    jinja_cell = JINJA.get_template(name).render({"a": cell})
    assert _same_page(jinja_cell) == _same_page(django_cell)


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        ('{{ v|default("—") }}', {"v": 0}, "—"),
        ('{{ v|default("—") }}', {"v": ""}, "—"),
        ('{{ v|default("—") }}', {"v": None}, "—"),
        ('{{ v|default("—") }}', {"v": 7}, "7"),
        ("{{ n }} day{{ n|pluralize }}", {"n": 1}, "1 day"),
        ("{{ n }} day{{ n|pluralize }}", {"n": 2}, "2 days"),
        ('match{{ n|pluralize("es,") }}', {"n": 1}, "matches"),
        ('match{{ n|pluralize("es,") }}', {"n": 2}, "match"),
        ('{{ d|date("Y-m-d") }}', {"d": __import__("datetime").date(1985, 4, 12)}, "1985-04-12"),
        ('{{ d|date("Y-m-d") }}', {"d": None}, ""),
        ("{{ v|escapejs }}", {"v": "O'Brien"}, "O\\u0027Brien"),
        ("{{ v|urlencode }}", {"v": "ann smi/th"}, "ann%20smi/th"),
        ("{{ v }}", {"v": "<b>"}, "&lt;b&gt;"),
    ],
)
def test_filters_mean_what_they_mean_in_django(text, context, expected):
    assert JINJA.from_string(text).render(context) == expected
    django_text = re.sub(r"\|(\w+)\(([^)]*)\)", r"|\1:\2", text)
    assert DJANGO.from_string(django_text).render(context) == expected


def test_links_read_as_django_reverses_them_escaped_once():
    html = JINJA.from_string("{{ url('patient_chart', 5) }}|{{ url('patient_list') }}").render()
    assert html == f"{conditional_escape(reverse('patient_chart', args=[5]))}|" + str(
        conditional_escape(reverse("patient_list"))
    )


def test_every_form_on_a_page_carries_one_valid_token(make_staff):
    request = _request(make_staff(Role.NURSE))
    html = JINJA.from_string("{{ csrf_input }}{{ csrf_input }}{{ csrf_token }}").render({}, request)
    tokens = re.findall(r'value="([^"]+)"', html)
    assert len(tokens) == 2
    assert tokens[0] == tokens[1] and html.endswith(tokens[0])
    secret = _unmask_cipher_token(get_token(request))
    assert _does_token_match(tokens[0], secret)


def test_the_test_client_sees_what_a_jinja2_page_was_given(client_for, patient):
    response = client_for(Role.NURSE).get(reverse("patient_chart", args=[patient.pk]))
    assert response.status_code == 200
    assert response.context["patient"].pk == patient.pk
    assert "patients/chart.html" in [t.name for t in response.templates]
