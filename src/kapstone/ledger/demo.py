"""The demo clinic's controlled-substance stock: the downtown clinic's safe and dosing-room
cabinet, two receipts of ketamine, a week of administrations in dosing sessions, one waste of
residue and a daily count. Made through the actions, so its ledger and audit trail are real;
the same for the same seed. NDCs here are made up (labeler 99999 is not assigned)."""

import random
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from kapstone.core.models import Site
from kapstone.dosing import actions as dosing
from kapstone.dosing.models import DosingSession
from kapstone.ledger import actions
from kapstone.ledger.models import Container, StorageLocation
from kapstone.patients.models import Patient
from kapstone.staff.models import User

SUPPLIER = {
    "supplier_name": "Northeast Medical Supply",
    "supplier_address": "1 Depot Road, Augusta, ME 04330",
    "supplier_dea_number": "RN1234563",
}
PRODUCTS = [
    {
        "ndc": "99999-0050-10",
        "product_name": "Ketamine HCl injection, 10 mL multi-dose vial",
        "substance": "ketamine",
        "form": "vial",
        "mg_per_ml": "50",
        "ml_per_container": "10",
    },
    {
        "ndc": "99999-0100-05",
        "product_name": "Ketamine HCl injection, 5 mL multi-dose vial",
        "substance": "ketamine",
        "form": "vial",
        "mg_per_ml": "100",
        "ml_per_container": "5",
    },
]


def _at(day, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@transaction.atomic
def build_ledger(seed: int, witness_password: str) -> None:
    """Once per demo database: nothing is added if the clinic already keeps stock."""
    if StorageLocation.objects.exists():
        return
    site = Site.objects.filter(code="downtown").first()
    if site is None:
        return
    rng = random.Random(f"{seed}:ledger")
    nurse = User.objects.get(username="nurse")
    prescriber = User.objects.get(username="drmorgan")
    today = timezone.localdate()
    safe = actions.add_location(by=nurse, site=site, name="Main safe", kind="safe")
    cabinet = actions.add_location(by=nurse, site=site, name="Dosing-room cabinet", kind="cabinet")
    # Before the first stock arrived: an initial inventory of zero.
    actions.record_count(
        by=prescriber,
        site=site,
        kind="initial",
        timing="opening",
        unit="mg",
        counted={},
        counted_at=_at(today - timedelta(days=21), 8),
    )
    for number, (product, containers) in enumerate(zip(PRODUCTS, (5, 3), strict=True), 1):
        actions.receive(
            by=nurse,
            location=safe,
            invoice_number=f"NMS-{seed % 10000:04d}-{number}",
            received_on=today - timedelta(days=20 - number),
            lot_number=f"K{rng.randint(10000, 99999)}",
            expires_on=today + timedelta(days=rng.randint(300, 700)),
            containers=containers,
            **SUPPLIER,
            **product,
        )
    vials = list(
        Container.objects.filter(location=safe, product__mg_per_ml=50).order_by("label")[:2]
    )
    for vial in vials:
        actions.transfer(
            by=nurse,
            container=vial,
            to_location=cabinet,
            reason="For dosing",
            occurred_at=_at(today - timedelta(days=16), 8, 30),
        )
    patients = list(Patient.objects.filter(home_site=site).order_by("pk")[:4])
    vial = vials[0]
    for index, patient in enumerate(patients[:3]):
        day = today - timedelta(days=6 - 2 * index)
        session = dosing.schedule_session(
            by=nurse,
            patient=patient,
            site=site,
            scheduled_start=_at(day, 9 + index),
            prescriber=prescriber,
        )
        # Past sessions: their check-in, pre-dose check and discharge are the dosing demo's
        # concern; the ledger's demo needs only a session cleared for a dose.
        DosingSession.objects.filter(pk=session.pk).update(status="cleared")
        actions.administer(
            by=nurse,
            container=vial,
            session=session,
            quantity=rng.choice(["0.6", "0.7", "0.8"]),
            unit="mL",
            occurred_at=_at(day, 9 + index, 10),
        )
        DosingSession.objects.filter(pk=session.pk).update(
            status="discharged", discharged_at=_at(day, 12 + index)
        )
    if patients:
        # The last dose of the week left residue in the syringe.
        actions.waste(
            by=nurse,
            container=vial,
            quantity="0.1",
            unit="mL",
            witness=prescriber,
            witness_password=witness_password,
            reason="Residue after the dose",
            occurred_at=_at(today - timedelta(days=2), 13, 20),
        )
    if len(patients) > 3:
        # Today's session, waiting for its dose.
        dosing.schedule_session(
            by=nurse,
            patient=patients[3],
            site=site,
            scheduled_start=_at(today, 14),
            prescriber=prescriber,
        )
    in_cabinet = Container.objects.filter(location=cabinet, balance_mg__gt=0)
    actions.record_count(
        by=nurse,
        site=site,
        location=cabinet,
        kind="daily",
        unit="mg",
        counted={c.pk: str(c.balance_mg) for c in in_cabinet},
    )
