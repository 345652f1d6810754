import pytest

from kapstone.access.roles import Role


def test_admin_sees_staff_with_roles_and_two_factor_status(client_for, make_staff):
    make_staff(Role.NURSE, username="nurse-a")
    make_staff(Role.BILLING, username="billing-a")
    response = client_for(Role.CLINIC_ADMIN).get("/staff/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "nurse-a" in body and "billing-a" in body
    assert "Nurse" in body and "not required" in body


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.CLINIC_ADMIN])
def test_other_roles_cannot_list_staff(client_for, role):
    assert client_for(role).get("/staff/").status_code == 403


NEW_STAFF = {
    "username": "rn.okafor",
    "first_name": "Ada",
    "last_name": "Okafor",
    "credentials": "RN",
    "roles": ["nurse"],
    "password": "a long enough passphrase",
}


def test_admin_adds_a_nurse_with_roles_sites_and_an_argon2_password(client_for, clinic):
    from kapstone.audit.models import AuditEvent
    from kapstone.staff.models import User

    _, site = clinic
    response = client_for(Role.CLINIC_ADMIN).post("/staff/new/", {**NEW_STAFF, "sites": [site.pk]})
    assert response.status_code == 302 and response.url == "/staff/"
    user = User.objects.get(username="rn.okafor")
    assert user.roles == {Role.NURSE}
    assert list(user.sites.all()) == [site]
    assert user.password.startswith("argon2")
    event = AuditEvent.objects.get(action="staff.create", target_id=str(user.pk))
    assert event.detail == {"roles": ["nurse"]}
    assert "passphrase" not in str(event.detail)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"password": "short"}, "password", "too short"),
        ({"password": "password123456"}, "password", "too common"),
        ({"roles": []}, "roles", "required"),
        ({"username": ""}, "username", "required"),
    ],
)
def test_a_bad_staff_form_names_the_field_and_saves_nothing(client_for, change, field, fragment):
    from kapstone.staff.models import User

    admin = client_for(Role.CLINIC_ADMIN)
    before = User.objects.count()
    response = admin.post("/staff/new/", {**NEW_STAFF, **change})
    assert response.status_code == 422
    assert fragment in " ".join(response.context["form"].errors[field]).lower()
    assert User.objects.count() == before


def test_a_taken_user_name_is_refused(client_for, make_staff):
    make_staff(Role.NURSE, username="rn.okafor")
    response = client_for(Role.CLINIC_ADMIN).post("/staff/new/", NEW_STAFF)
    assert response.status_code == 422
    assert "already taken" in " ".join(response.context["form"].errors["username"])


def test_only_the_admin_may_create_staff_even_through_the_action(make_staff):
    from kapstone.errors import AccessDenied
    from kapstone.staff.actions import create_staff

    nurse = make_staff(Role.NURSE)
    with pytest.raises(AccessDenied):
        create_staff(by=nurse, username="x", password=None, roles=[Role.PRESCRIBER])


def test_reset_two_factor_makes_the_colleague_pair_again(client_for, make_staff, patient):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import signed_in_client

    colleague = make_staff(Role.THERAPIST)
    their_client = signed_in_client(colleague)
    assert their_client.get(f"/patients/{patient.pk}/").status_code == 200
    admin = client_for(Role.CLINIC_ADMIN)
    response = admin.post(f"/staff/{colleague.pk}/reset-two-factor/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=colleague).exists()
    # Their open session is no longer verified: they must pair a new authenticator.
    assert their_client.get(f"/patients/{patient.pk}/").url == "/account/two-factor/"


def test_createstaff_command_makes_the_first_admin(db, monkeypatch, capsys):
    import io

    from django.core.management import CommandError, call_command

    from kapstone.staff.models import User

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase\n"))
    call_command("createstaff", "chris", "--role", "clinic_admin", "--password-stdin")
    assert "created chris (Clinic admin)" in capsys.readouterr().out
    user = User.objects.get(username="chris")
    assert user.roles == {Role.CLINIC_ADMIN} and user.check_password("a long enough passphrase")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(CommandError, match="password"):
        call_command("createstaff", "dana", "--role", "nurse", "--password-stdin")
