import pytest

from kapstone.access.roles import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    needs_two_factor,
    permissions_for,
    roles_with,
)

P = Permission


def test_every_role_is_mapped():
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_researcher_sees_no_identified_patient_data():
    assert not {p for p in permissions_for([Role.RESEARCHER]) if p.startswith("patient.")}


@pytest.mark.parametrize(
    ("permission", "roles"),
    [
        (P.PATIENT_VIEW_CLINICAL, {Role.PRESCRIBER, Role.NURSE, Role.THERAPIST}),
        (P.PATIENT_EDIT_DIAGNOSES, {Role.PRESCRIBER, Role.THERAPIST}),
        (P.PATIENT_VIEW_DIAGNOSES, {Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.BILLING}),
        (P.PATIENT_REGISTER, {Role.PRESCRIBER, Role.NURSE, Role.FRONT_DESK}),
        (P.AUDIT_VIEW, {Role.CLINIC_ADMIN}),
    ],
)
def test_who_holds_the_sensitive_permissions(permission, roles):
    assert roles_with(permission) == roles


def test_permissions_of_several_roles_are_the_union():
    assert permissions_for([Role.BILLING, Role.CLINIC_ADMIN]) == (
        ROLE_PERMISSIONS[Role.BILLING] | ROLE_PERMISSIONS[Role.CLINIC_ADMIN]
    )


@pytest.mark.parametrize(
    ("roles", "needed"),
    [
        ([Role.NURSE], True),
        ([Role.PRESCRIBER], True),
        ([Role.THERAPIST], True),
        ([Role.CLINIC_ADMIN], True),
        ([Role.FRONT_DESK], False),
        ([Role.BILLING], False),
        ([Role.RESEARCHER], False),
        ([Role.FRONT_DESK, Role.NURSE], True),
        ([], False),
    ],
)
def test_two_factor_for_clinical_roles(roles, needed):
    assert needs_two_factor(roles) is needed


def test_unknown_role_is_refused():
    with pytest.raises(ValueError):
        permissions_for(["janitor"])
