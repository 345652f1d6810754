"""Staff credentials: the actions' rules, the database's, the pages and the expiry e-mails."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.credentials import actions, queries, rules, tasks
from kapstone.credentials.models import Credential
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from tests.conftest import signed_in_client

ISSUED = date(2025, 3, 1)


@pytest.fixture
def admin(make_staff):
    user = make_staff(Role.CLINIC_ADMIN)
    user.email = "admin@clinic.example"
    user.save()
    return user


@pytest.fixture
def nurse(make_staff):
    return make_staff(Role.NURSE)


def add(admin, nurse, **overrides):
    fields = {"kind": "acls", "issued_on": ISSUED, "expires_on": date(2027, 3, 1)}
    fields.update(overrides)
    return actions.add_credential(by=admin, user=nurse, **fields)


def problems(error: InvalidInputs) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in error.errors]


# Adding


def test_add_records_the_credential_and_one_audit_event_without_values(admin, nurse):
    # Act
    credential = add(admin, nurse, kind="licence", identifier="RN-55501", jurisdiction="CA")

    # Assert
    assert credential.active and credential.verified_at is None
    (event,) = AuditEvent.objects.filter(action="credential.add")
    assert event.actor_id == admin.pk and event.patient_id is None
    assert event.detail["fields"] == [
        "expires_on",
        "identifier",
        "issued_on",
        "jurisdiction",
        "kind",
    ]
    assert "RN-55501" not in str(event.detail)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"expires_on": None}, [("expires_on", "is required for this kind of credential")]),
        ({"expires_on": ISSUED}, [("expires_on", "must be after the date of issue")]),
        ({"kind": "licence"}, [("identifier", "is required for this kind of credential")]),
        ({"kind": "dea_registration"}, [("identifier", "is required for this kind of credential")]),
        ({"kind": "reiki"}, [("kind", "must be one of the listed kinds")]),
        ({"issued_on": None}, [("issued_on", "is required")]),
        (
            {"issued_on": date.today() + timedelta(days=30), "expires_on": date(2040, 1, 1)},
            [("issued_on", "cannot be in the future")],
        ),
        ({"issuer": "x" * 121}, [("issuer", "must be at most 120 characters")]),
    ],
)
def test_add_refuses_naming_field_and_rule(admin, nurse, overrides, expected):
    with pytest.raises(InvalidInputs) as raised:
        add(admin, nurse, **overrides)
    assert problems(raised.value) == expected
    assert Credential.objects.count() == 0


@pytest.mark.parametrize("kind", ["kap_training", "emdr", "ifs", "art", "other"])
def test_trainings_may_have_no_expiry(admin, nurse, kind):
    assert add(admin, nurse, kind=kind, expires_on=None).expires_on is None


def test_the_same_active_credential_twice_is_refused(admin, nurse):
    add(admin, nurse)
    with pytest.raises(InvalidInputs) as raised:
        add(admin, nurse)
    assert [e.field for e in raised.value.errors] == ["identifier"]


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK])
def test_only_credential_managers_add(make_staff, nurse, role):
    with pytest.raises(AccessDenied):
        add(make_staff(role), nurse)


# The database holds the same invariants


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "acls", "expires_on": None},
        {"kind": "bls", "expires_on": ISSUED},
        {"kind": "emdr", "expires_on": ISSUED - timedelta(days=1)},
        {"kind": "reiki", "expires_on": None},
    ],
)
def test_database_refuses_impossible_rows(admin, nurse, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(user=nurse, issued_on=ISSUED, added_by=admin, **fields)


def test_database_refuses_a_second_active_row(admin, nurse):
    add(admin, nurse, kind="emdr", expires_on=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(user=nurse, kind="emdr", issued_on=ISSUED, added_by=admin)


def test_database_refuses_verified_without_who(admin, nurse):
    credential = add(admin, nurse)
    credential.verified_at = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        credential.save()


# Renewing and verifying


def test_renewal_replaces_the_old_card_which_stops_counting(admin, nurse):
    # Arrange
    old = add(admin, nurse, expires_on=date(2026, 12, 1))

    # Act
    new = actions.renew_credential(
        by=admin, credential=old, issued_on=date(2026, 11, 1), expires_on=date(2028, 11, 1)
    )

    # Assert
    old.refresh_from_db()
    assert not old.active and new.active and new.replaces == old
    assert queries.held_by(nurse) == [new]
    assert rules.holds(queries.held_by(nurse), "acls", date(2027, 6, 1))
    (event,) = AuditEvent.objects.filter(action="credential.renew")
    assert event.detail["replaces"] == old.pk
    with pytest.raises(InvalidInput):
        actions.renew_credential(
            by=admin, credential=old, issued_on=date(2026, 11, 1), expires_on=date(2028, 11, 1)
        )


def test_renewal_checks_its_dates(admin, nurse):
    old = add(admin, nurse)
    with pytest.raises(InvalidInputs) as raised:
        actions.renew_credential(by=admin, credential=old, issued_on=ISSUED, expires_on=None)
    assert problems(raised.value) == [("expires_on", "is required for this kind of credential")]
    with pytest.raises(InvalidInputs) as raised:
        actions.renew_credential(
            by=admin, credential=old, issued_on=date(2024, 1, 1), expires_on=date(2026, 1, 1)
        )
    assert problems(raised.value) == [("issued_on", "cannot be before the credential it renews")]


def test_verify_names_who_and_when_and_never_your_own(admin, nurse, make_staff):
    # Arrange
    credential = add(admin, nurse)
    own = actions.add_credential(
        by=admin, user=admin, kind="bls", issued_on=ISSUED, expires_on=date(2027, 3, 1)
    )

    # Act
    verified = actions.verify_credential(by=admin, credential=credential)

    # Assert
    assert verified.verified_by == admin and verified.verified_at is not None
    assert AuditEvent.objects.filter(action="credential.verify").count() == 1
    with pytest.raises(InvalidInputs):
        actions.verify_credential(by=admin, credential=credential)
    with pytest.raises(InvalidInputs) as raised:
        actions.verify_credential(by=admin, credential=own)
    assert problems(raised.value) == [
        ("credential", "cannot be verified by the person who holds it")
    ]


# Pages


def test_board_shows_expired_in_red_and_expiring_highlighted(admin, nurse, make_staff):
    # Arrange
    today = timezone.localdate()
    therapist = make_staff(Role.THERAPIST)
    add(admin, nurse, kind="bls", issued_on=ISSUED, expires_on=today - timedelta(days=1))
    add(admin, nurse, kind="acls", issued_on=ISSUED, expires_on=today + timedelta(days=30))
    add(admin, therapist, kind="emdr", issued_on=ISSUED, expires_on=None)
    client = signed_in_client(make_staff(Role.PRESCRIBER))

    # Act
    response = client.get("/credentials/")

    # Assert
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        'class="credential-expired"' in page and '<span class="tag urgent">Expired</span>' in page
    )
    assert 'class="credential-expiring"' in page and "Expires within 60 days" in page
    assert 'class="credential-current"' in page and "does not expire" in page
    assert "1 expired" in page and "1 expiring within 60 days" in page
    assert therapist.display_name in page and admin.display_name in page


def test_invalid_add_form_is_refused_with_422(admin, nurse):
    # Act
    response = signed_in_client(admin).post(
        f"/credentials/staff/{nurse.pk}/add/", {"kind": "acls", "issued_on": "2025-03-01"}
    )

    # Assert
    assert response.status_code == 422
    assert "Nothing was saved" in response.content.decode()
    assert "Expires on is required for this kind of credential" in response.content.decode()
    assert Credential.objects.count() == 0


def test_staff_page_hides_the_forms_from_viewers(admin, nurse, make_staff):
    add(admin, nurse)
    page = signed_in_client(make_staff(Role.PRESCRIBER)).get(f"/credentials/staff/{nurse.pk}/")
    assert "Add a credential" not in page.content.decode()
    assert (
        "Add a credential"
        in signed_in_client(admin).get(f"/credentials/staff/{nurse.pk}/").content.decode()
    )


def test_home_card_and_nav_for_credential_viewers_only(admin, nurse, make_staff):
    # Arrange
    add(admin, nurse, expires_on=timezone.localdate() + timedelta(days=10))

    # Act
    admin_home = signed_in_client(admin).get("/").content.decode()
    nurse_home = signed_in_client(make_staff(Role.NURSE)).get("/").content.decode()

    # Assert
    assert "1 expired or expiring within 60 days" in admin_home
    assert 'href="/credentials/"' in admin_home
    assert 'href="/credentials/"' not in nurse_home


def test_verify_form_on_own_credential_shows_the_refusal(admin):
    own = actions.add_credential(
        by=admin, user=admin, kind="bls", issued_on=ISSUED, expires_on=date(2027, 3, 1)
    )
    response = signed_in_client(admin).post(f"/credentials/{own.pk}/verify/", follow=True)
    assert "Nothing was saved" in response.content.decode()
    own.refresh_from_db()
    assert own.verified_at is None


# The expiry e-mails

TODAY = date(2026, 12, 1)


def test_admins_are_mailed_once_per_credential_entering_the_window(admin, nurse, make_staff):
    # Arrange
    second_admin = make_staff(Role.CLINIC_ADMIN)
    second_admin.email = "second@clinic.example"
    second_admin.save()
    soon = add(admin, nurse, kind="acls", expires_on=TODAY + timedelta(days=60))
    add(admin, nurse, kind="bls", expires_on=TODAY + timedelta(days=61))
    add(admin, nurse, kind="emdr", expires_on=None)

    # Act
    first = tasks.alert_expiring_credentials(TODAY)
    again = tasks.alert_expiring_credentials(TODAY)
    next_day = tasks.alert_expiring_credentials(TODAY + timedelta(days=1))

    # Assert
    assert (first, again, next_day) == (1, 0, 1)
    assert len(mail.outbox) == 2
    message = mail.outbox[0]
    assert sorted(message.to) == ["admin@clinic.example", "second@clinic.example"]
    assert "ACLS" in message.body and f"/credentials/staff/{nurse.pk}/" in message.body
    soon.refresh_from_db()
    assert soon.expiry_alerted_at is not None


def test_a_renewal_is_mailed_about_afresh(admin, nurse):
    # Arrange
    old = add(admin, nurse, expires_on=TODAY + timedelta(days=10))
    tasks.alert_expiring_credentials(TODAY)
    new = actions.renew_credential(
        by=admin, credential=old, issued_on=date(2026, 11, 1), expires_on=date(2028, 11, 1)
    )

    # Act
    later = tasks.alert_expiring_credentials(new.expires_on - timedelta(days=59))

    # Assert
    assert later == 1 and len(mail.outbox) == 2


def test_no_admin_address_still_marks_it_once(admin, nurse):
    admin.email = ""
    admin.save()
    add(admin, nurse, expires_on=TODAY + timedelta(days=5))
    assert tasks.alert_expiring_credentials(TODAY) == 1
    assert mail.outbox == []
    assert tasks.alert_expiring_credentials(TODAY) == 0
