"""The session row names its user, and a signed-in request reads both in one query; Django's
checks on the user still decide who is signed in."""

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from kapstone.access.roles import Role
from kapstone.staff import backends
from kapstone.staff.models import StaffSession
from tests.conftest import signed_in_client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _session_row(client) -> StaffSession:
    return StaffSession.objects.get(pk=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_signing_in_stores_the_user_beside_the_session(make_staff, clinic):
    make_staff(Role.FRONT_DESK, username="desk9", password=PASSWORD)
    client = Client()
    client.post("/login/", {"username": "desk9", "password": PASSWORD})
    row = _session_row(client)
    assert row.user.username == "desk9"
    assert str(row.user_id) == row.get_decoded()[SESSION_KEY]


def test_a_session_before_sign_in_names_no_user(clinic):
    client = Client()
    session = client.session
    session["after_verify"] = "/patients/"
    session.save()
    assert _session_row(client).user_id is None
    assert client.get("/patients/").status_code == 302


def test_a_signed_in_request_reads_the_user_with_the_session(make_staff, patient, monkeypatch):
    user = make_staff(Role.NURSE)
    client = signed_in_client(user)
    assert client.get("/patients/").status_code == 200
    read_alone = []
    monkeypatch.setattr(backends, "load_user", lambda pk: read_alone.append(pk))
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    signed_in = response.wsgi_request.user
    assert signed_in.pk == user.pk and signed_in.roles == frozenset({Role.NURSE})
    assert signed_in.is_verified()
    assert read_alone == []


def test_the_user_the_session_data_names_wins_over_the_row(make_staff, patient):
    nurse = make_staff(Role.NURSE)
    researcher = make_staff(Role.RESEARCHER)
    client = signed_in_client(researcher)
    # The row's user altered behind Django's back: the data still names the researcher.
    StaffSession.objects.filter(pk=_session_row(client).pk).update(user=nurse)
    response = client.get("/patients/")
    assert response.status_code == 403
    assert response.wsgi_request.user.pk == researcher.pk


def test_the_user_read_with_the_session_still_passes_djangos_checks(make_staff, patient):
    user = make_staff(Role.FRONT_DESK)
    client = signed_in_client(user)
    assert client.get("/patients/").status_code == 200
    # A changed password ends other sessions (the session hash no longer matches).
    user.set_password("another long passphrase entirely")
    user.save()
    assert client.get("/patients/").status_code == 302
    other = signed_in_client(user)
    user.is_active = False
    user.save()
    assert other.get("/patients/").status_code == 302


def test_the_backend_reads_the_user_when_none_is_offered(make_staff):
    user = make_staff(Role.NURSE)
    backend = backends.StaffBackend()
    assert backend.get_user(user.pk).roles == frozenset({Role.NURSE})
    other = make_staff(Role.BILLING)
    with backends.offering(backends.load_user(other.pk)):
        # Offered someone else: the one asked for is read.
        assert backend.get_user(user.pk).pk == user.pk
        assert backend.get_user(str(other.pk)).roles == frozenset({Role.BILLING})
    assert backends._offered.get() is None


def test_deleting_a_user_ends_their_sessions(make_staff, clinic):
    user = make_staff(Role.BILLING)
    client = signed_in_client(user)
    key = _session_row(client).pk
    user.delete()
    assert not StaffSession.objects.filter(pk=key).exists()


def test_expired_sessions_are_cleared_every_night(make_staff, clinic):
    from datetime import timedelta

    from django.utils import timezone

    from kapstone.staff.tasks import clear_expired_sessions

    current = signed_in_client(make_staff(Role.BILLING))
    expired = signed_in_client(make_staff(Role.BILLING))
    StaffSession.objects.filter(pk=_session_row(expired).pk).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    clear_expired_sessions()
    assert list(StaffSession.objects.values_list("pk", flat=True)) == [_session_row(current).pk]
