"""The ledger's pages: what they show, what they refuse (field and rule, nothing saved), what
each records in the audit trail, and the files they hand out."""

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.core.models import Organization
from kapstone.ledger import guard, reports
from kapstone.ledger.models import Container, LedgerEntry, LossReport, Receipt
from tests.conftest import signed_in_client
from tests.integration.access import events_since, last_seq
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
def nurse(make_staff):
    user = make_staff(Role.NURSE, password=SIGNING_PASSWORD)
    return user, signed_in_client(user)


def _field_errors(html: str) -> dict[str, str]:
    return {
        name: unescape(message)
        for name, message in re.findall(
            r'<div id="id_(\w+)_error"><p class="error"[^>]*>([^<]*)</p>', html
        )
    }


def _receive_data(world, **overrides) -> dict:
    today = timezone.localdate()
    return {
        **SUPPLIER,
        **KETAMINE_50,
        "location": world.safe.pk,
        "received_on": str(today),
        "lot_number": "LOT-C3",
        "expires_on": str(today + timedelta(days=300)),
        "containers": "2",
        **overrides,
    }


# Refusals name the field and the rule, and save nothing.


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"supplier_dea_number": "AB1234564"}, "supplier_dea_number", "check digit"),
        ({"ndc": "409205105"}, "ndc", "three groups of digits"),
        ({"mg_per_ml": "fifty"}, "mg_per_ml", "must be a number"),
        ({"ml_per_container": "0"}, "ml_per_container", "more than 0"),
        ({"containers": "0"}, "containers", "greater than or equal to 1"),
    ],
    ids=["dea-check-digit", "ndc-shape", "strength-not-a-number", "no-volume", "no-containers"],
)
def test_receive_refused_names_the_field(world, nurse, overrides, field, words):
    _user, client = nurse
    receipts, before = Receipt.objects.count(), last_seq()

    response = client.post(reverse("ledger_receive"), _receive_data(world, **overrides))

    html = response.content.decode()
    errors = _field_errors(html)
    assert response.status_code == 422
    assert "Nothing was saved" in html
    assert list(errors) == [field]
    assert words in errors[field]
    assert Receipt.objects.count() == receipts
    assert [e.action for e in events_since(before)] == ["ledger.form.view"]


def test_receive_page_adds_stock(world, nurse):
    _user, client = nurse
    response = client.post(reverse("ledger_receive"), _receive_data(world))
    assert response.status_code == 302
    assert Receipt.objects.filter(lot_number="LOT-C3").get().containers == 2


def test_drawing_more_than_the_vial_holds_is_refused(world, nurse):
    _user, client = nurse
    before_entries = LedgerEntry.objects.count()

    response = client.post(
        reverse("ledger_administer", args=[world.drawn.pk]),
        {"session": world.session.pk, "quantity": "8.1", "unit": "mL"},
    )

    errors = _field_errors(response.content.decode())
    assert response.status_code == 422
    assert errors == {"quantity": "Dose drawn is more than the container holds"}
    assert LedgerEntry.objects.count() == before_entries


def test_wrong_witness_password_is_refused_and_recorded(world, nurse):
    _user, client = nurse
    before_entries, before = LedgerEntry.objects.count(), last_seq()

    response = client.post(
        reverse("ledger_waste", args=[world.drawn.pk]),
        {"quantity": "1", "unit": "mg", "witness": world.witness.pk, "witness_password": "guess"},
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert _field_errors(html) == {
        "witness_password": "Witness's password does not match the witness's password"
    }
    assert "guess" not in html
    assert LedgerEntry.objects.count() == before_entries
    assert [e.action for e in events_since(before)] == [
        "ledger.witness.refused",
        "ledger.container.view",
    ]


def test_witness_list_leaves_out_the_recorder_and_unlicensed_staff(world, nurse, make_staff):
    user, client = nurse
    therapist = make_staff(Role.THERAPIST)

    response = client.get(reverse("ledger_waste", args=[world.drawn.pk]))

    choices = {c.pk for c in response.context["form"].fields["witness"].queryset}
    assert world.witness.pk in choices
    assert user.pk not in choices
    assert therapist.pk not in choices


@pytest.mark.parametrize(
    ("slug", "action", "names_patient"),
    [
        ("administer", "patient.list", True),
        ("waste", "ledger.container.view", False),
        ("transfer", "ledger.container.view", False),
        ("destroy", "ledger.container.view", False),
        ("return", "ledger.container.view", False),
        ("loss", "ledger.container.view", False),
        ("adjust", "ledger.container.view", False),
    ],
)
def test_each_container_form_records_its_view(world, nurse, slug, action, names_patient):
    _user, client = nurse
    before = last_seq()

    response = client.get(reverse(f"ledger_{slug}", args=[world.drawn.pk]))

    assert response.status_code == 200
    assert world.drawn.label in response.content.decode()
    (event,) = events_since(before)
    assert event.action == action
    assert event.patient_id == (world.patient.pk if names_patient else None)
    assert event.detail["form"] == slug


def test_administer_form_lists_todays_sessions_only(world, nurse, make_patient):
    from kapstone.dosing import actions as dosing

    _user, client = nurse
    other = make_patient(first_name="Later", last_name="Patient")
    dosing.schedule_session(
        by=world.prescriber,
        patient=other,
        site=world.site,
        scheduled_start=timezone.now() + timedelta(days=3),
        prescriber=world.prescriber,
    )

    response = client.get(reverse("ledger_administer", args=[world.drawn.pk]))

    html = response.content.decode()
    assert world.patient.record_number in html
    assert other.record_number not in html


# What the pages show


def test_stock_page_shows_balances_by_location(world, nurse):
    _user, client = nurse
    response = client.get(reverse("ledger_stock"))
    html = response.content.decode()
    assert "Ledger clinic: Safe" in html
    assert world.drawn.label in html and "400 mg (8 mL)" in html
    assert "Counts awaiting reconciliation" in html
    assert world.patient.last_name not in html


def test_container_page_names_patients_by_record_number_and_audits_each(world, nurse):
    _user, client = nurse
    before = last_seq()
    response = client.get(reverse("ledger_container", args=[world.drawn.pk]))
    html = response.content.decode()
    assert world.patient.record_number in html
    assert world.patient.last_name not in html
    (event,) = events_since(before)
    assert (event.action, event.patient_id) == ("ledger.container.view", world.patient.pk)
    assert event.detail["container"] == world.drawn.pk


def test_loss_deadlines_shown_due_and_overdue(world, nurse):
    from kapstone.ledger import actions

    user, client = nurse
    old = actions.report_loss(
        by=user,
        container=world.sealed,
        kind="loss",
        quantity="1",
        discovered_at=timezone.now() - timedelta(days=60),
        description="Found short at the biennial inventory",
    )

    html = client.get(reverse("ledger_losses")).content.decode()

    assert re.search(rf'data-testid="notice-{world.loss.pk}">due<', html)
    assert re.search(rf'data-testid="form106-{world.loss.pk}">due<', html)
    assert re.search(rf'data-testid="notice-{old.pk}">overdue<', html)
    assert re.search(rf'data-testid="form106-{old.pk}">overdue<', html)


def test_count_then_prescriber_resolves_and_signs(world, nurse, make_staff):
    _user, client = nurse
    in_stock = Container.objects.filter(location__site=world.site, balance_mg__gt=0)
    data = {"kind": "shift", "timing": "", "unit": "mg"}
    data.update({f"container_{c.pk}": str(c.balance_mg) for c in in_stock})
    data[f"container_{world.sealed.pk}"] = "499"

    response = client.post(reverse("ledger_count_new", args=[world.site.pk]), data)

    assert response.status_code == 302
    count_page = client.get(response["Location"]).content.decode()
    assert "Reconciliation: open" in count_page
    count_id = int(response["Location"].rstrip("/").split("/")[-1])
    from kapstone.ledger.models import Count

    reconciliation = Count.objects.get(pk=count_id).reconciliation
    prescriber = signed_in_client(make_staff(Role.PRESCRIBER, password=SIGNING_PASSWORD))
    url = reverse("ledger_reconciliation_resolve", args=[reconciliation.pk])
    resolve = {"resolution": "adjust_to_count", "explanation": "Recounted", "password": "x"}
    refused = prescriber.post(url, resolve)
    assert refused.status_code == 422
    assert "Your password does not match your password" in unescape(refused.content.decode())

    signed = prescriber.post(url, {**resolve, "password": SIGNING_PASSWORD})

    assert signed.status_code == 302
    assert Container.objects.get(pk=world.sealed.pk).balance_mg == 499


def test_verify_page_shows_intact_then_broken(world, nurse):
    from django.db import connection

    _user, client = nurse
    assert "Intact" in client.get(reverse("ledger_verify")).content.decode()
    guard.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LedgerEntry._meta.db_table} SET recorded_by_id = %s WHERE id = %s",
            [world.witness.pk, world.administration.pk],
        )
    html = client.get(reverse("ledger_verify")).content.decode()
    assert "BROKEN" in html
    assert f"entry {world.administration.seq} was altered" in html


# Files


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_dispensing_log_csv_has_the_records_fields(world, nurse):
    _user, client = nurse
    before = last_seq()

    response = client.get(reverse("ledger_dispensing_log_csv"))

    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    header, *rows = _csv_rows(response)
    row = dict(zip(header, next(r for r in rows if r[2] == "Administered"), strict=True))
    assert row["Patient"] == world.patient.sorted_name
    assert row["Patient address"] == "12 Pine Street, Portland ME 04101"
    assert row["Quantity (mg)"] == "100.000" and row["Quantity (mL)"] == "2.000"
    assert row["Change (mg)"] == "-100.000"
    assert row["Strength (mg/mL)"] == "50.000"
    assert row["Administered or recorded by"] == world.prescriber.display_name
    received = dict(zip(header, next(r for r in rows if r[2] == "Received"), strict=True))
    assert received["Supplier or recipient DEA number"] == "AB1234563"
    assert received["Invoice"].startswith("INV-1001")
    assert [(e.action, e.patient_id) for e in events_since(before)] == [
        ("ledger.dispensing_log.export", world.patient.pk)
    ]


def test_dispensing_log_filters_by_date(world, nurse):
    _user, client = nurse
    long_ago = str(timezone.localdate() - timedelta(days=400))
    response = client.get(
        reverse("ledger_dispensing_log_csv"), {"since": long_ago, "until": long_ago}
    )
    assert len(_csv_rows(response)) == 1


def test_changing_a_log_filter_swaps_the_table_and_is_audited(world, nurse):
    _user, client = nurse
    before = last_seq()
    response = client.get(
        reverse("ledger_dispensing_log"), {"site": world.site.pk}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<h1>" not in html
    assert world.patient.record_number in html
    assert [(e.action, e.patient_id) for e in events_since(before)] == [
        ("ledger.dispensing_log.view", world.patient.pk)
    ]


def test_csv_cells_cannot_run_as_formulas(world, nurse):
    from kapstone.ledger import actions

    user, client = nurse
    actions.adjust(
        by=user, container=world.drawn, direction="add", quantity="1", reason="=HYPERLINK(1)"
    )
    body = client.get(reverse("ledger_dispensing_log_csv")).content.decode()
    assert "'=HYPERLINK(1)" in body
    assert ",=HYPERLINK" not in body
    assert ",-100.000," in body


def test_dispensing_log_pdf(world, nurse):
    _user, client = nurse
    response = client.get(reverse("ledger_dispensing_log_pdf"))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_inventory_files(world, nurse):
    _user, client = nurse
    pdf = client.get(reverse("ledger_inventory_pdf", args=[world.inventory.pk]))
    assert pdf.content.startswith(b"%PDF")
    rows = _csv_rows(client.get(reverse("ledger_inventory_csv", args=[world.inventory.pk])))
    assert rows[0] == ["Inventory", "Initial"]
    assert ["Opening or close of business", "Opening"] in rows
    lines = rows[rows.index(next(r for r in rows if r and r[0] == "Substance")) + 1 :]
    assert len(lines) == 3
    assert {line[11] for line in lines} == {"full"}
    assert {line[12] for line in lines} == {"500.000"}


def test_inventory_names_the_sites_dea_registration(world):
    # Arrange
    site = world.inventory.site
    site.dea_registration = "FH1234563"
    site.save()
    lines, by_product = reports.inventory_lines(world.inventory)

    # Act
    html = render_to_string(
        "ledger/pdf/inventory.html",
        {
            "organization": Organization.current(),
            "count": world.inventory,
            "lines": lines,
            "by_product": by_product,
            "printed_at": timezone.localtime(),
        },
    )

    # Assert
    assert "DEA registration number: FH1234563" in html


def test_a_shift_count_is_not_an_inventory(world, nurse):
    _user, client = nurse
    response = client.get(reverse("ledger_inventory_csv", args=[world.count.pk]))
    assert response.status_code == 404


def test_loss_report_form_records_steps(world, nurse):
    _user, client = nurse
    url = reverse("ledger_loss_update", args=[world.loss.pk])
    refused = client.post(url, {"form_106_filed_on": str(timezone.localdate())})
    assert refused.status_code == 422
    assert "form_106_reference" in _field_errors(refused.content.decode())
    response = client.post(url, {"notice_sent_on": str(timezone.localdate())})
    assert response.status_code == 302
    assert LossReport.objects.get(pk=world.loss.pk).notice_sent_on == timezone.localdate()


def test_nothing_in_the_refused_witness_event_names_the_password(world, nurse):
    from kapstone.audit.models import AuditEvent

    _user, client = nurse
    client.post(
        reverse("ledger_destroy", args=[world.sealed.pk]),
        {
            "quantity": "500",
            "unit": "mg",
            "method": "Kit",
            "place": "Office",
            "witness": world.witness.pk,
            "witness_password": "secret-guess",
        },
    )
    event = AuditEvent.objects.get(action="ledger.witness.refused")
    assert "secret-guess" not in str(event.detail)
    assert event.target_id == str(world.witness.pk)
    assert WITNESS_PASSWORD not in str(event.detail)
