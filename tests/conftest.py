"""Shared fixtures: a clinic, staff in each role (signed in, second factor verified) and
patients made through the real action functions."""

import itertools

import pytest
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Role, needs_two_factor
from kapstone.audit import guard
from kapstone.core.models import Organization, Site
from kapstone.ledger import guard as ledger_guard
from kapstone.patients import actions
from kapstone.staff.actions import create_staff

ALL_ROLES = list(Role)
_counter = itertools.count(1)


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_at_once():
    """Background tasks run in the test's own thread, as soon as they are enqueued (e-mails
    land in Django's test outbox)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield


@pytest.fixture(autouse=True)
def _audit_guard(request):
    """Keep the append-only triggers in place for every test that touches the database.

    Tests that commit (transactional_db, live_server) are cleaned up by Django deleting every
    row, which the triggers would refuse, so those tests drop them before the clean-up.
    """
    names = request.fixturenames
    if "transactional_db" in names or "live_server" in names:
        request.getfixturevalue("transactional_db")
        guard.install(connection)
        ledger_guard.install(connection)
        yield
        guard.remove(connection)
        ledger_guard.remove(connection)
    elif "db" in names:
        request.getfixturevalue("db")
        guard.install(connection)
        ledger_guard.install(connection)
        yield
    else:
        yield


@pytest.fixture
def clinic(db):
    org = Organization.current()
    site = Site.objects.create(organization=org, name="Main clinic", code="main")
    return org, site


@pytest.fixture
def make_staff(db):
    def make(*roles: Role, username: str | None = None, password: str | None = None):
        user = create_staff(
            by=None,
            username=username or f"{'-'.join(roles) or 'none'}{next(_counter)}",
            password=password,
            roles=list(roles),
            first_name="Test",
            last_name=str(roles[0]).title() if roles else "Nobody",
            check_password_strength=False,
        )
        if needs_two_factor(roles):
            TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        return user

    return make


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user, backend="kapstone.staff.backends.StaffBackend")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def client_for(make_staff):
    def make(*roles: Role) -> Client:
        client = signed_in_client(make_staff(*roles))
        return client

    return make


@pytest.fixture
def clinician(make_staff):
    """One person holding every clinical role, to set up records in arrange steps."""
    return make_staff(Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK)


@pytest.fixture
def make_patient(clinic, clinician):
    def make(**overrides):
        data = {
            "first_name": "Robin",
            "last_name": f"Testpatient{next(_counter)}",
            "date_of_birth": __import__("datetime").date(1985, 4, 12),
            "sex_at_birth": "female",
            "weight": "70",
            "weight_unit": "kg",
            "height": "170",
            "height_unit": "cm",
        }
        data.update(overrides)
        return actions.register_patient(by=clinician, **data)

    return make


@pytest.fixture
def patient(make_patient):
    return make_patient(first_name="Avery", last_name="Quinlan")
