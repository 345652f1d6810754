"""Deny by default: every page and API operation declares what it needs, and a page that
declares nothing is refused to everyone."""

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, include, path

from kapstone.access.roles import Permission, Role
from kapstone.api import TokenAuth, api
from kapstone.core.permissions import PERMISSION_ATTR, PUBLIC, SIGNED_IN, signed_in

EXPECTED_PUBLIC = {
    "login",
    "login_verify",
    "two_factor_setup",
    "logout",
    "healthz",
    # A patient's check-in link, its confirmation, and the crisis lines: the link's token is
    # the only key (kapstone.assessments.views.checkins).
    "checkin_answer",
    "checkin_thanks",
    "crisis",
    # A clinician's calendar feed: the address's token is the only key, and the feed carries
    # no patient data (kapstone.scheduling.views).
    "schedule_feed",
    # A patient's home-practice link: its token is the only key
    # (kapstone.integration.practice_views).
    "practice_page",
}
EXPECTED_SIGNED_IN = {"home", "account"}


def _walk(patterns, prefix=""):
    """(route, name, view) for every view, through nested includes, leaving out the API
    (which checks its token and permissions itself) and static files."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "api":
                continue
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            if route.startswith(settings.STATIC_URL):
                continue
            yield route, entry.name, entry.callback


def _project_views():
    return list(_walk(get_resolver().url_patterns))


def _api_operations():
    for _prefix, router in api._routers:
        for route, path_view in router.path_operations.items():
            for operation in path_view.operations:
                yield route, operation


def test_walk_finds_the_project_pages():
    # Arrange
    expected = {"patient_chart", "add_diagnosis", "audit_export", "login", "home"}

    # Act
    names = {name for _, name, _ in _project_views()}

    # Assert
    assert expected <= names
    assert not any(name and name.startswith("api") for name in names)


@pytest.mark.parametrize(
    ("route", "name", "view"), _project_views(), ids=[r for r, _, _ in _project_views()]
)
def test_every_page_declares_a_permission(route, name, view):
    # Act
    declared = getattr(view, PERMISSION_ATTR, None)

    # Assert
    assert declared in {PUBLIC, SIGNED_IN, *Permission}, f"{route} ({name}) declares {declared!r}"


def test_public_pages_are_only_the_expected_few():
    # Act
    public = {
        name for _, name, view in _project_views() if getattr(view, PERMISSION_ATTR) == PUBLIC
    }

    # Assert
    assert public == EXPECTED_PUBLIC


def test_signed_in_pages_are_only_the_expected_few():
    # Act
    any_staff = {
        name for _, name, view in _project_views() if getattr(view, PERMISSION_ATTR) == SIGNED_IN
    }

    # Assert
    assert any_staff == EXPECTED_SIGNED_IN


@pytest.mark.parametrize(
    "url_name_and_path",
    [("healthz", "/healthz"), ("login", "/login/")],
    ids=lambda pair: pair[0],
)
def test_public_pages_open_without_signing_in(url_name_and_path, db):
    # Arrange
    _, url = url_name_and_path

    # Act
    response = Client().get(url)

    # Assert
    assert response.status_code == 200


def test_api_operations_all_found():
    # Act
    operations = list(_api_operations())

    # Assert
    assert len(operations) == 8


@pytest.mark.parametrize(
    ("route", "operation"),
    list(_api_operations()),
    ids=[f"{'|'.join(op.methods)} {route}" for route, op in _api_operations()],
)
def test_every_api_operation_declares_a_permission(route, operation):
    # Act
    declared = getattr(operation.view_func, PERMISSION_ATTR, None)

    # Assert: the API has no public or any-signed-in operations, and each needs a token.
    assert declared in set(Permission), f"{route} declares {declared!r}"
    assert [type(check) for check in operation.auth_callbacks] == [TokenAuth]


# A throwaway URLconf: one page somebody forgot to mark, one marked, and the project's own
# pages for the error templates and the log-in redirect.


def forgotten(request):
    return HttpResponse("should never be seen")


@signed_in
def remembered(request):
    return HttpResponse("marked")


urlpatterns = [
    path("forgotten/", forgotten, name="forgotten"),
    path("remembered/", remembered, name="remembered"),
    path("nested/", include([path("forgotten/", forgotten, name="nested_forgotten")])),
    path("", include("kapstone.urls")),
]


def test_walk_reports_an_unmarked_nested_page():
    # Arrange
    resolver = get_resolver(__name__)

    # Act
    unmarked = {
        route
        for route, _, view in _walk(resolver.url_patterns)
        if getattr(view, PERMISSION_ATTR, None) is None
    }

    # Assert
    assert unmarked == {"forgotten/", "nested/forgotten/"}


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.PRESCRIBER, Role.CLINIC_ADMIN], ids=str)
@pytest.mark.parametrize("url", ["/forgotten/", "/nested/forgotten/"])
def test_unmarked_page_is_refused_to_signed_in_staff(url, role, client_for):
    # Arrange
    client = client_for(role)
    assert client.get("/remembered/").status_code == 200

    # Act
    response = client.get(url)

    # Assert
    assert response.status_code == 403
    assert b"should never be seen" not in response.content


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unmarked_page_is_refused_without_signing_in(method, db):
    # Arrange
    client = Client()

    # Act
    response = getattr(client, method)("/forgotten/")

    # Assert
    assert response.status_code == 403
