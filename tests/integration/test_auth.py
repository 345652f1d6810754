"""Signing in: Argon2 passwords, a second factor for clinical roles, throttled guessing,
and sessions that end after inactivity."""

import time

import pytest
from django.conf import settings
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from tests.conftest import signed_in_client

PASSWORD = "correct horse battery staple"


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(client: Client, username: str, password: str = PASSWORD):
    return client.post("/login/", {"username": username, "password": password})


@pytest.fixture
def nurse(make_staff):
    return make_staff(Role.NURSE, username="nurse1", password=PASSWORD)


@pytest.fixture
def front_desk(make_staff):
    return make_staff(Role.FRONT_DESK, username="desk1", password=PASSWORD)


def test_passwords_are_hashed_with_argon2(nurse):
    assert nurse.password.startswith("argon2$argon2id$")


def test_front_desk_signs_in_with_a_password(front_desk, clinic):
    client = Client()
    response = sign_in(client, "desk1")
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/patients/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login", actor_id=front_desk.pk).exists()


def test_nurse_needs_the_second_factor_before_any_record(nurse, patient):
    client = Client()
    assert sign_in(client, "nurse1").status_code == 302
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 302 and response.url == "/login/verify/"
    assert client.get("/patients/").url == "/login/verify/"


def test_wrong_code_is_refused_and_audited(nurse):
    client = Client()
    sign_in(client, "nurse1")
    response = client.post("/login/verify/", {"token": "000000"})
    assert response.status_code == 200
    assert "not right" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.two_factor_failed", actor_id=nurse.pk).exists()
    assert client.get("/patients/").status_code == 302


def test_right_code_opens_the_records(nurse, patient):
    client = Client()
    sign_in(client, "nurse1")
    device = TOTPDevice.objects.get(user=nurse)
    response = client.post("/login/verify/", {"token": current_code(device)})
    assert response.status_code == 302
    assert client.get(f"/patients/{patient.pk}/").status_code == 200


def test_first_sign_in_pairs_an_authenticator(make_staff, clinic):
    therapist = make_staff(Role.THERAPIST, username="newtherapist", password=PASSWORD)
    TOTPDevice.objects.filter(user=therapist).delete()  # never set up
    client = Client()
    sign_in(client, "newtherapist")
    assert client.get("/patients/").url == "/account/two-factor/"
    page = client.get("/account/two-factor/")
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=therapist, confirmed=False)
    response = client.post("/account/two-factor/", {"token": current_code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/patients/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.two_factor_enrolled").count() == 1


def test_repeated_failures_lock_the_account(front_desk, clinic):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "desk1", "wrong password").status_code == 200
    # The fifth failure locks the account; even the right password is refused after it.
    assert sign_in(client, "desk1", "wrong password").status_code == 429
    locked = sign_in(client, "desk1")
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= 5
    # Another account from the same address is not locked out with it.
    assert sign_in(Client(), "nurse-other", "x").status_code == 200


def test_session_ends_after_inactivity(client_for, patient):
    client = client_for(Role.NURSE)
    assert client.get("/patients/").status_code == 200
    session = client.session
    session["last_seen"] = int(time.time()) - settings.SESSION_IDLE_SECONDS - 1
    session.save()
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 302 and response.url.startswith("/login/?expired=1")
    assert client.get("/patients/").status_code == 302


def test_session_cookie_lifetime_is_the_idle_limit():
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_SECONDS == 15 * 60
    assert settings.SESSION_COOKIE_HTTPONLY


def test_sign_out_is_a_post_and_is_audited(make_staff):
    user = make_staff(Role.BILLING)
    client = signed_in_client(user)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/patients/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor_id=user.pk).exists()


def test_a_password_alone_cannot_pair_a_new_authenticator(nurse):
    client = Client()
    sign_in(client, "nurse1")
    response = client.get("/account/two-factor/")
    assert response.status_code == 302 and response.url == "/login/verify/"
    assert client.post("/account/two-factor/", {"token": "123456"}).url == "/login/verify/"
    assert TOTPDevice.objects.filter(user=nurse).count() == 1
    assert client.get("/patients/").status_code == 302


def test_after_the_second_step_the_user_lands_where_they_were_going(nurse, patient):
    client = Client()
    sign_in(client, "nurse1")
    chart = f"/patients/{patient.pk}/"
    assert client.get(chart).url == "/login/verify/"
    device = TOTPDevice.objects.get(user=nurse)
    response = client.post("/login/verify/", {"token": current_code(device)})
    assert response.url == chart


def test_the_return_address_must_be_on_this_site(nurse):
    client = Client()
    sign_in(client, "nurse1")
    session = client.session
    session["after_verify"] = "https://elsewhere.example/steal"
    session.save()
    device = TOTPDevice.objects.get(user=nurse)
    assert client.post("/login/verify/", {"token": current_code(device)}).url == "/"


def test_guessing_codes_is_throttled(nurse):
    client = Client()
    sign_in(client, "nurse1")
    device = TOTPDevice.objects.get(user=nurse)
    for _ in range(3):
        client.post("/login/verify/", {"token": "000000"})
    # Each failure doubles the wait before the device accepts any code, even the right one.
    response = client.post("/login/verify/", {"token": current_code(device)})
    assert response.status_code == 200
    assert client.get("/patients/").status_code == 302


# Who someone is (roles, verified authenticator) is read afresh from the database on every
# request, in one query with the user: a change made in one server process counts in every
# other from the next request on.


def test_a_role_taken_away_counts_from_the_next_request(make_staff, patient):
    from kapstone.staff.models import StaffRole

    user = make_staff(Role.NURSE, Role.RESEARCHER)
    client = signed_in_client(user)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    StaffRole.objects.filter(user=user, role=Role.NURSE).delete()
    assert client.get(f"/patients/{patient.pk}/").status_code == 403


def test_a_role_given_counts_from_the_next_request(make_staff, patient):
    from kapstone.staff.models import StaffRole

    user = make_staff(Role.RESEARCHER)
    client = signed_in_client(user)
    assert client.get("/patients/").status_code == 403
    StaffRole.objects.create(user=user, role=Role.FRONT_DESK)
    assert client.get("/patients/").status_code == 200


def test_a_removed_authenticator_unverifies_open_sessions(make_staff, patient):
    user = make_staff(Role.NURSE)
    client = signed_in_client(user)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    TOTPDevice.objects.filter(user=user).delete()
    assert client.get(f"/patients/{patient.pk}/").url == "/account/two-factor/"


def test_an_unconfirmed_authenticator_does_not_verify(make_staff, patient):
    user = make_staff(Role.NURSE)
    client = signed_in_client(user)
    TOTPDevice.objects.filter(user=user).update(confirmed=False)
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 302
    assert response.url == "/account/two-factor/"


def test_another_users_authenticator_does_not_verify(make_staff, patient):
    from django_otp import DEVICE_ID_SESSION_KEY

    user = make_staff(Role.NURSE)
    other = make_staff(Role.NURSE)
    client = signed_in_client(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=other).persistent_id
    session.save()
    assert client.get(f"/patients/{patient.pk}/").url == "/login/verify/"


def test_signing_out_ends_the_session_everywhere_at_once(make_staff):
    user = make_staff(Role.FRONT_DESK)
    client = signed_in_client(user)
    # The same session presented elsewhere (another tab, another server process): sessions
    # are read from the database on every request, never from a per-process cache.
    elsewhere = Client()
    elsewhere.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    assert elsewhere.get("/patients/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert elsewhere.get("/patients/").status_code == 302
    assert "cache" not in settings.SESSION_ENGINE
