"""The clinic's settings pages against every role."""

from dataclasses import dataclass

import pytest

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.core.models import Organization
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    no_args,
    send,
)


@dataclass
class World:
    patient: Patient


@pytest.fixture
def world(make_patient):
    return World(patient=make_patient())


def clinic_settings(w):
    return Organization.current().settings_overrides


# An operational section, so that every role allowed to save may save it.
SAVE = {
    "settings": "[checkins]\noverdue_after_hours = 12\n",
    "reason": "Reminders earlier, as the clinic agreed on Monday",
}

PAGES = [
    Page("settings", "get", "clinic_settings", P.SETTINGS_VIEW, args=no_args),
    Page(
        "settings-save",
        "post",
        "clinic_settings_save",
        P.SETTINGS_MANAGE,
        args=no_args,
        data=SAVE,
        audit="settings.update",
        names_patient=False,
        state=clinic_settings,
        redirects_to="clinic_settings",
    ),
]
PAGES_BY_ID = {page.id: page for page in PAGES}


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_access_follows_role_map(page, role, world, client_for):
    check_page_access(page, role, world, client_for)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_declares_the_tables_permission(page, world):
    check_declared_permission(page, world)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_anonymous_is_sent_to_login(page, world, client):
    check_anonymous_is_sent_to_login(page, world, client)


# Written out by hand: if the role map itself were wrong, roles_with() would agree with it.
CRITICAL = [
    (Role.CLINIC_ADMIN, "settings", 200),
    (Role.CLINIC_ADMIN, "settings-save", 302),
    (Role.PRESCRIBER, "settings", 200),
    (Role.PRESCRIBER, "settings-save", 302),
    *[
        (role, page, 403)
        for role in (Role.NURSE, Role.THERAPIST, Role.FRONT_DESK, Role.BILLING, Role.RESEARCHER)
        for page in ("settings", "settings-save")
    ],
]


@pytest.mark.parametrize(
    ("role", "page_id", "status"), CRITICAL, ids=[f"{r}-{p}" for r, p, _ in CRITICAL]
)
def test_policy_critical_facts(role, page_id, status, world, client_for):
    # Arrange
    client = client_for(role)

    # Act
    response = send(client, PAGES_BY_ID[page_id], world)

    # Assert
    assert response.status_code == status
