"""A small clinic's controlled-substance stock, made through the real actions, for the ledger's
integration tests (which import `build_world` from here); and checks that it adds up."""

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit import guard as audit_guard
from kapstone.core.models import Organization, Site
from kapstone.dosing import actions as dosing
from kapstone.dosing.models import DosingSession
from kapstone.ledger import actions
from kapstone.ledger import guard as ledger_guard
from kapstone.ledger.models import Container, LedgerEntry
from kapstone.patients import actions as patient_actions
from kapstone.staff.actions import create_staff

WITNESS_PASSWORD = "witness passphrase 2026"
SIGNING_PASSWORD = "signing passphrase 2026"
KETAMINE_50 = {
    "ndc": "99999-0050-10",
    "product_name": "Ketamine HCl injection",
    "substance": "ketamine",
    "form": "vial",
    "mg_per_ml": "50",
    "ml_per_container": "10",
}
SUPPLIER = {
    "supplier_name": "Northeast Medical Supply",
    "supplier_address": "1 Depot Road, Augusta, ME 04330",
    "supplier_dea_number": "AB1234563",
    "invoice_number": "INV-1001",
}


# Witnesses and prescribers sign with real passwords; Argon2 is checked elsewhere.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


def receive(by, location, containers=3, **overrides):
    today = timezone.localdate()
    data = {
        **SUPPLIER,
        **KETAMINE_50,
        "received_on": today,
        "lot_number": "LOT-A1",
        "expires_on": today + timedelta(days=365),
        "containers": containers,
        **overrides,
    }
    return actions.receive(by=by, location=location, **data)


@dataclass
class LedgerWorld:
    """One site with a safe and a cabinet; three 500 mg vials received into the safe. Vial
    `drawn` gave a 100 mg dose to the patient; vial `stolen` lost 10 mg to a theft; vial
    `sealed` is untouched. An initial inventory agreed with the ledger; a later shift count of
    the safe did not, and its reconciliation is open."""

    patient: object
    site: object
    safe: object
    cabinet: object
    prescriber: object
    witness: object
    session: object
    drawn: Container
    stolen: Container
    sealed: Container
    administration: LedgerEntry
    loss: object
    inventory: object
    count: object
    reconciliation: object


def ready_for_a_dose(session):
    """Stands in for the check-in and pre-dose check (the dosing tests' concern): the ledger
    draws a dose only for a session cleared for dosing."""
    DosingSession.objects.filter(pk=session.pk).update(status="cleared")
    session.refresh_from_db()
    return session


def build_world(*, clinician, make_staff, patient, site) -> LedgerWorld:
    witness = make_staff(Role.NURSE, password=WITNESS_PASSWORD)
    safe = actions.add_location(by=clinician, site=site, name="Safe", kind="safe")
    cabinet = actions.add_location(by=clinician, site=site, name="Cabinet", kind="cabinet")
    receipt = receive(clinician, safe)
    drawn, stolen, sealed = Container.objects.filter(receipt=receipt).order_by("pk")
    inventory = actions.record_count(
        by=clinician,
        site=site,
        kind="initial",
        timing="opening",
        unit="mg",
        counted={c.pk: "500" for c in (drawn, stolen, sealed)},
    )
    session = dosing.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now(),
        prescriber=clinician,
    )
    ready_for_a_dose(session)
    administration = actions.administer(
        by=clinician, container=drawn, session=session, quantity="100"
    )
    loss = actions.report_loss(
        by=clinician,
        container=stolen,
        kind="theft",
        quantity="10",
        discovered_at=timezone.now(),
        description="Vial found short at the morning count",
    )
    count = actions.record_count(
        by=clinician,
        site=site,
        location=safe,
        kind="shift",
        unit="mg",
        counted={drawn.pk: "390", stolen.pk: "490", sealed.pk: "500"},
    )
    for container in (drawn, stolen, sealed):
        container.refresh_from_db()
    return LedgerWorld(
        patient=patient,
        site=site,
        safe=safe,
        cabinet=cabinet,
        prescriber=clinician,
        witness=witness,
        session=session,
        drawn=drawn,
        stolen=stolen,
        sealed=sealed,
        administration=administration,
        loss=loss,
        inventory=inventory,
        count=count,
        reconciliation=count.reconciliation,
    )


def _staff(*roles, password=None):
    return create_staff(
        by=None,
        username=f"ledger-{'-'.join(roles)}{next(_names)}",
        password=password,
        roles=list(roles),
        first_name="Test",
        last_name=str(roles[0]).title(),
        check_password_strength=False,
    )


@contextmanager
def world_for_module(django_db_blocker):
    """One world for a whole module: built once inside a transaction that each test's own
    transaction nests in, and rolled back when the module is done. The page tables send
    hundreds of requests against the same world; building it once keeps them quick."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            audit_guard.install(connection)
            ledger_guard.install(connection)
            site = Site.objects.create(
                organization=Organization.current(), name="Ledger clinic", code="ledger"
            )
            clinician = _staff(Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.FRONT_DESK)
            patient = patient_actions.register_patient(
                by=clinician,
                first_name="Avery",
                last_name="Quinlan",
                date_of_birth=date(1985, 4, 12),
                sex_at_birth="female",
                address_line1="12 Pine Street",
                city="Portland",
                state="ME",
                postal_code="04101",
            )
            yield build_world(clinician=clinician, make_staff=_staff, patient=patient, site=site)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def ledger_world(clinic, clinician, make_staff, patient):
    return build_world(clinician=clinician, make_staff=make_staff, patient=patient, site=clinic[1])


def test_world_adds_up(ledger_world):
    w = ledger_world
    assert [w.drawn.balance_mg, w.stolen.balance_mg, w.sealed.balance_mg] == [
        Decimal(400),
        Decimal(490),
        Decimal(500),
    ]
    assert w.reconciliation.status == "open"
    assert actions.verify_ledger().intact
