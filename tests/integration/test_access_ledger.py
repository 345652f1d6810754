"""Controlled-substance ledger pages against every role.

The checks live in tests/integration/access.py. POST data here may name the world's records,
whose ids differ from test to test, so a value (or the whole data) may be a function of the
world, resolved before the page is sent.
"""

from dataclasses import replace

import pytest
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role
from kapstone.ledger.models import (
    Container,
    Count,
    LedgerEntry,
    LossReport,
    Reconciliation,
    StorageLocation,
)
from tests.conftest import signed_in_client
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
    no_args,
    send,
)
from tests.integration.test_ledger_fixtures import (
    KETAMINE_50,
    SIGNING_PASSWORD,
    SUPPLIER,
    WITNESS_PASSWORD,
    _fast_passwords,  # noqa: F401 - autouse fixture
    world_for_module,
)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker) as built:
        yield built


@pytest.fixture
def signing_client_for(make_staff):
    """Staff with a password, because a prescriber signs a reconciliation with theirs."""

    def make(*roles: Role):
        return signed_in_client(make_staff(*roles, password=SIGNING_PASSWORD))

    return make


def entries_of(kind):
    return lambda w: LedgerEntry.objects.filter(kind=kind).count()


def container_args(name):
    return lambda w: [getattr(w, name).pk]


def _now_local() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _witnessed(w) -> dict:
    return {"witness": w.witness.pk, "witness_password": WITNESS_PASSWORD}


def _count_data(w) -> dict:
    in_stock = Container.objects.filter(location__site=w.site, balance_mg__gt=0)
    return {
        "kind": "shift",
        "timing": "",
        "unit": "mg",
        **{f"container_{c.pk}": str(c.balance_mg) for c in in_stock},
    }


def _receive_data(w) -> dict:
    today = timezone.localdate()
    return {
        **SUPPLIER,
        **KETAMINE_50,
        "location": w.safe.pk,
        "received_on": str(today),
        "lot_number": "LOT-B2",
        "expires_on": str(today.replace(year=today.year + 1)),
        "containers": "2",
    }


R, V, C = P.LEDGER_RECORD, P.LEDGER_VIEW, P.LEDGER_RECONCILE


def SITE(w):
    return [w.site.pk]


STOCK_POST = {"redirects_to": "ledger_stock", "names_patient": False}
ON_CONTAINER = {"redirects_to": "ledger_container"}

PAGES = [
    Page(
        "stock",
        "get",
        "ledger_stock",
        V,
        args=no_args,
        audit="ledger.stock.view",
        names_patient=False,
    ),
    Page(
        "location-new-post",
        "post",
        "ledger_location_new",
        R,
        args=no_args,
        data=lambda w: {"site": w.site.pk, "name": "Crash cart", "kind": "cart"},
        audit="ledger.location.create",
        state=lambda w: StorageLocation.objects.count(),
        **STOCK_POST,
    ),
    Page(
        "receive-get",
        "get",
        "ledger_receive",
        R,
        args=no_args,
        audit="ledger.form.view",
        names_patient=False,
    ),
    Page(
        "receive-post",
        "post",
        "ledger_receive",
        R,
        args=no_args,
        data=_receive_data,
        audit="ledger.receive",
        state=lambda w: Container.objects.count(),
        **STOCK_POST,
    ),
    Page(
        "container",
        "get",
        "ledger_container",
        V,
        args=container_args("drawn"),
        audit="ledger.container.view",
    ),
    Page(
        "administer-get",
        "get",
        "ledger_administer",
        R,
        args=container_args("drawn"),
        audit="patient.list",
    ),
    Page(
        "administer-post",
        "post",
        "ledger_administer",
        R,
        args=container_args("drawn"),
        data=lambda w: {"session": w.session.pk, "quantity": "0.5", "unit": "mL"},
        audit="ledger.administer",
        state=entries_of("administer"),
        **ON_CONTAINER,
    ),
    # One container form opened by GET stands for the rest: they are one view made per kind
    # of entry (test_ledger_pages opens each and checks what it records).
    Page(
        "waste-get",
        "get",
        "ledger_waste",
        R,
        args=container_args("drawn"),
        audit="ledger.container.view",
        names_patient=False,
    ),
    Page(
        "waste-post",
        "post",
        "ledger_waste",
        R,
        args=container_args("drawn"),
        data=lambda w: {"quantity": "2.5", "unit": "mg", **_witnessed(w)},
        audit="ledger.waste",
        names_patient=False,
        state=entries_of("waste"),
        **ON_CONTAINER,
    ),
    Page(
        "transfer-post",
        "post",
        "ledger_transfer",
        R,
        args=container_args("drawn"),
        data=lambda w: {"to_location": w.cabinet.pk},
        audit="ledger.transfer",
        names_patient=False,
        state=lambda w: Container.objects.get(pk=w.drawn.pk).location_id,
        **ON_CONTAINER,
    ),
    Page(
        "destroy-post",
        "post",
        "ledger_destroy",
        R,
        args=container_args("sealed"),
        data=lambda w: {
            "quantity": "500",
            "unit": "mg",
            "method": "Denaturing kit",
            "place": "Back office",
            **_witnessed(w),
        },
        audit="ledger.destroy",
        names_patient=False,
        state=entries_of("destroy"),
        **ON_CONTAINER,
    ),
    Page(
        "return-post",
        "post",
        "ledger_return",
        R,
        args=container_args("sealed"),
        data=lambda w: {
            "quantity": "10",
            "unit": "mL",
            "recipient_name": "Harbor Reverse Distribution",
            "recipient_address": "9 Wharf Street, Portland, ME 04101",
            "recipient_dea_number": "AB1234563",
            **_witnessed(w),
        },
        audit="ledger.return",
        names_patient=False,
        state=entries_of("return"),
        **ON_CONTAINER,
    ),
    Page(
        "loss-post",
        "post",
        "ledger_loss",
        R,
        args=container_args("sealed"),
        data=lambda w: {
            "kind": "loss",
            "quantity": "5",
            "unit": "mg",
            "discovered_at": _now_local(),
            "description": "Vial cracked in the safe",
        },
        audit="ledger.loss",
        names_patient=False,
        state=lambda w: LossReport.objects.count(),
        **ON_CONTAINER,
    ),
    Page(
        "adjust-post",
        "post",
        "ledger_adjust",
        R,
        args=container_args("drawn"),
        data={"direction": "add", "quantity": "1.2", "unit": "mg", "reason": "Overfill"},
        audit="ledger.adjust",
        names_patient=False,
        state=entries_of("adjust"),
        **ON_CONTAINER,
    ),
    Page(
        "reverse-get",
        "get",
        "ledger_reverse",
        R,
        args=lambda w: [w.administration.pk],
        audit="ledger.entry.view",
    ),
    Page(
        "reverse-post",
        "post",
        "ledger_reverse",
        R,
        args=lambda w: [w.administration.pk],
        data={"reason": "Recorded against the wrong vial"},
        audit="ledger.reverse",
        state=entries_of("reversal"),
        **ON_CONTAINER,
    ),
    Page(
        "count-new-get",
        "get",
        "ledger_count_new",
        R,
        args=SITE,
        audit="ledger.form.view",
        names_patient=False,
    ),
    Page(
        "count-new-post",
        "post",
        "ledger_count_new",
        R,
        args=SITE,
        data=_count_data,
        audit="ledger.count",
        names_patient=False,
        state=lambda w: Count.objects.count(),
        redirects_to="ledger_count",
    ),
    Page(
        "count",
        "get",
        "ledger_count",
        V,
        args=lambda w: [w.count.pk],
        audit="ledger.count.view",
        names_patient=False,
    ),
    Page(
        "investigate-post",
        "post",
        "ledger_reconciliation_investigate",
        C,
        args=lambda w: [w.reconciliation.pk],
        data={"note": "Recounting with the night nurse"},
        audit="ledger.reconciliation.investigate",
        names_patient=False,
        state=lambda w: Reconciliation.objects.get(pk=w.reconciliation.pk).status,
        redirects_to="ledger_count",
    ),
    Page(
        "resolve-get",
        "get",
        "ledger_reconciliation_resolve",
        C,
        args=lambda w: [w.reconciliation.pk],
        audit="ledger.reconciliation.view",
        names_patient=False,
    ),
    Page(
        "resolve-post",
        "post",
        "ledger_reconciliation_resolve",
        C,
        args=lambda w: [w.reconciliation.pk],
        data={
            "resolution": "adjust_to_count",
            "explanation": "Spill during the evening draw, seen by two nurses",
            "password": SIGNING_PASSWORD,
        },
        audit="ledger.reconciliation.resolve",
        names_patient=False,
        state=lambda w: Reconciliation.objects.get(pk=w.reconciliation.pk).status,
        redirects_to="ledger_count",
    ),
    Page(
        "losses",
        "get",
        "ledger_losses",
        V,
        args=no_args,
        audit="ledger.losses.view",
        names_patient=False,
    ),
    Page(
        "loss-update-post",
        "post",
        "ledger_loss_update",
        R,
        args=lambda w: [w.loss.pk],
        data=lambda w: {"notice_sent_on": str(timezone.localdate())},
        audit="ledger.loss.update",
        names_patient=False,
        state=lambda w: LossReport.objects.get(pk=w.loss.pk).notice_sent_on,
        redirects_to="ledger_losses",
    ),
    Page(
        "dispensing-log",
        "get",
        "ledger_dispensing_log",
        V,
        args=no_args,
        audit="ledger.dispensing_log.view",
    ),
    Page(
        "dispensing-log-csv",
        "get",
        "ledger_dispensing_log_csv",
        V,
        args=no_args,
        audit="ledger.dispensing_log.export",
    ),
    Page(
        "dispensing-log-pdf",
        "get",
        "ledger_dispensing_log_pdf",
        V,
        args=no_args,
        audit="ledger.dispensing_log.export",
    ),
    Page(
        "inventories",
        "get",
        "ledger_inventories",
        V,
        args=no_args,
        audit="ledger.inventories.view",
        names_patient=False,
    ),
    Page(
        "inventory-csv",
        "get",
        "ledger_inventory_csv",
        V,
        args=lambda w: [w.inventory.pk],
        audit="ledger.inventory.export",
        names_patient=False,
    ),
    Page(
        "inventory-pdf",
        "get",
        "ledger_inventory_pdf",
        V,
        args=lambda w: [w.inventory.pk],
        audit="ledger.inventory.export",
        names_patient=False,
    ),
    Page(
        "verify",
        "get",
        "ledger_verify",
        V,
        args=no_args,
        audit="ledger.verify",
        names_patient=False,
    ),
]
PAGES_BY_ID = {page.id: page for page in PAGES}


def resolved(page: Page, world) -> Page:
    """The page with its data filled in from this world."""
    data = page.data(world) if callable(page.data) else page.data
    return replace(page, data={k: v(world) if callable(v) else v for k, v in data.items()})


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_access_follows_role_map(page, role, world, signing_client_for):
    check_page_access(resolved(page, world), role, world, signing_client_for)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_declares_the_tables_permission(page, world):
    check_declared_permission(resolved(page, world), world)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_anonymous_is_sent_to_login(page, world, client):
    check_anonymous_is_sent_to_login(resolved(page, world), world, client)


# Facts written out by hand: the clinic's policy, whatever roles.py says.
_MOVERS = {Role.PRESCRIBER, Role.NURSE}
CRITICAL = [
    *[(role, "administer-post", 302 if role in _MOVERS else 403) for role in ALL_ROLES],
    (Role.THERAPIST, "waste-post", 403),
    (Role.CLINIC_ADMIN, "receive-post", 403),
    (Role.BILLING, "dispensing-log", 403),
    (Role.RESEARCHER, "dispensing-log-csv", 403),
    (Role.PRESCRIBER, "resolve-post", 302),
    (Role.NURSE, "resolve-post", 403),
    (Role.NURSE, "investigate-post", 403),
    (Role.CLINIC_ADMIN, "stock", 403),
    (Role.THERAPIST, "stock", 403),
]


@pytest.mark.parametrize(
    ("role", "page_id", "status"), CRITICAL, ids=[f"{r}-{p}" for r, p, _ in CRITICAL]
)
def test_policy_critical_facts(role, page_id, status, world, signing_client_for):
    # Arrange
    client = signing_client_for(role)

    # Act
    response = send(client, resolved(PAGES_BY_ID[page_id], world), world)

    # Assert
    assert response.status_code == status
