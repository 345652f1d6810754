"""Staff credentials pages against every role."""

from dataclasses import dataclass
from datetime import date

import pytest

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.credentials import actions
from kapstone.credentials.models import Credential
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    no_args,
)


@dataclass
class World:
    patient: Patient
    staff: object
    credential: Credential


@pytest.fixture
def world(make_patient, make_staff):
    admin = make_staff(Role.CLINIC_ADMIN)
    nurse = make_staff(Role.NURSE)
    credential = actions.add_credential(
        by=admin,
        user=nurse,
        kind="acls",
        issuer="American Heart Association",
        issued_on=date(2025, 3, 1),
        expires_on=date(2027, 3, 1),
    )
    return World(patient=make_patient(), staff=nurse, credential=credential)


def staff_args(w):
    return [w.staff.pk]


def credential_args(w):
    return [w.credential.pk]


PAGES = [
    Page("credential-board", "get", "credential_board", P.CREDENTIALS_VIEW, args=no_args),
    Page("credential-staff", "get", "credential_staff", P.CREDENTIALS_VIEW, args=staff_args),
    Page("credential-add-get", "get", "credential_add", P.CREDENTIALS_MANAGE, args=staff_args),
    Page(
        "credential-add-post",
        "post",
        "credential_add",
        P.CREDENTIALS_MANAGE,
        args=staff_args,
        data={"kind": "bls", "issued_on": "2025-03-01", "expires_on": "2027-03-01"},
        audit="credential.add",
        names_patient=False,
        state=lambda w: Credential.objects.filter(user=w.staff).count(),
        redirects_to="credential_staff",
    ),
    Page(
        "credential-renew-get",
        "get",
        "credential_renew",
        P.CREDENTIALS_MANAGE,
        args=credential_args,
    ),
    Page(
        "credential-renew-post",
        "post",
        "credential_renew",
        P.CREDENTIALS_MANAGE,
        args=credential_args,
        data={"issued_on": "2026-11-01", "expires_on": "2028-11-01"},
        audit="credential.renew",
        names_patient=False,
        state=lambda w: Credential.objects.get(pk=w.credential.pk).active,
        redirects_to="credential_staff",
    ),
    Page(
        "credential-verify",
        "post",
        "credential_verify",
        P.CREDENTIALS_MANAGE,
        args=credential_args,
        audit="credential.verify",
        names_patient=False,
        state=lambda w: Credential.objects.get(pk=w.credential.pk).verified_at,
        redirects_to="credential_staff",
    ),
]


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
