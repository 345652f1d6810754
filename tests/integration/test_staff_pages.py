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
