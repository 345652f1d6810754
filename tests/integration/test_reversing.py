"""Links reversed once per route shape read exactly as Django's own reversal."""

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, get_resolver, reverse
from django.urls.converters import IntConverter
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString

from kapstone.core import reversing


def _int_routes():
    """Every named route whose arguments are all whole numbers, with their count."""
    routes = []
    for name, entries in get_resolver().reverse_dict.lists():
        if not isinstance(name, str):
            continue
        for possibilities, _pattern, _defaults, converters in entries:
            for _text, params in possibilities:
                if all(isinstance(converters.get(p), IntConverter) for p in params):
                    routes.append((name, len(params)))
    return sorted(set(routes))


ROUTES = _int_routes()


def test_the_project_has_routes_of_every_shape():
    assert {arity for _, arity in ROUTES} >= {0, 1, 2}


@pytest.mark.parametrize(("name", "arity"), ROUTES)
def test_every_route_reads_as_django_reverses_it(name, arity):
    for args in ([7] * arity, list(range(1, arity + 1)), [0] * arity, [123456789] * arity):
        try:
            expected = reverse(name, args=args)
        except NoReverseMatch:
            continue
        assert reversing.url(name, *args) == expected
        escaped = reversing.url(name, *args, escape=conditional_escape)
        assert escaped == conditional_escape(expected)
        assert isinstance(escaped, SafeString)


@pytest.mark.parametrize(
    "args",
    [(-1,), ("12",), (True,), (1.5,)],
    ids=["negative", "text", "boolean", "fraction"],
)
def test_arguments_that_are_not_whole_numbers_go_to_django(args):
    try:
        expected = reverse("patient_chart", args=list(args))
    except NoReverseMatch:
        with pytest.raises(NoReverseMatch):
            reversing.url("patient_chart", *args)
    else:
        assert reversing.url("patient_chart", *args) == expected


def test_an_unknown_route_is_refused_as_django_refuses_it():
    with pytest.raises(NoReverseMatch):
        reversing.url("no_such_route", 1)


def test_the_url_tag_renders_as_djangos():
    template = Template(
        "{% url 'patient_chart' pk %}|{% url 'home' %}|{% url 'diagnosis_resolve' pk 9 %}"
        "|{% url 'patient_chart' pk as link %}[{{ link }}]"
    )
    rendered = template.render(Context({"pk": 42}))
    assert rendered == (
        f"{reverse('patient_chart', args=[42])}|{reverse('home')}"
        f"|{reverse('diagnosis_resolve', args=[42, 9])}|[{reverse('patient_chart', args=[42])}]"
    )


def test_the_url_tag_escapes_a_route_name_from_the_context_and_honours_autoescape_off():
    template = Template(
        "{% url name pk %}|{% autoescape off %}{% url 'patient_chart' pk %}{% endautoescape %}"
    )
    rendered = template.render(Context({"name": "patient_chart", "pk": 5}))
    chart = reverse("patient_chart", args=[5])
    assert rendered == f"{conditional_escape(chart)}|{chart}"


def test_the_url_tag_still_refuses_a_missing_route():
    with pytest.raises(NoReverseMatch):
        Template("{% url 'no_such_route' 1 %}").render(Context({}))
