"""The ledger's actions against a real database: what each entry needs, what it refuses, the
database's own guards, and tampering found by the chain."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.core.models import Organization
from kapstone.dosing import actions as dosing
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.ledger import actions, guard
from kapstone.ledger.models import Container, LedgerEntry, LossReport, Receipt
from tests.integration.access import events_since, last_seq
from tests.integration.test_ledger_fixtures import (
    KETAMINE_50,
    SIGNING_PASSWORD,
    SUPPLIER,
    WITNESS_PASSWORD,
    _fast_passwords,  # noqa: F401 - autouse fixture
    build_world,
    ready_for_a_dose,
    receive,
)

D = Decimal
TABLE = LedgerEntry._meta.db_table


@pytest.fixture
def ledger_world(clinic, clinician, make_staff, patient):
    return build_world(clinician=clinician, make_staff=make_staff, patient=patient, site=clinic[1])


def fields_of(error) -> list[str]:
    errors = error.errors if isinstance(error, InvalidInputs) else [error]
    return [e.field for e in errors]


def balance(container) -> Decimal:
    return Container.objects.get(pk=container.pk).balance_mg


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# Receiving


def test_receipt_makes_one_container_and_one_entry_each(ledger_world):
    w = ledger_world
    before = last_seq()

    receipt = receive(w.prescriber, w.cabinet, containers=4, mg_per_ml="100", ndc="99999-0100-10")

    made = list(Container.objects.filter(receipt=receipt))
    assert [c.balance_mg for c in made] == [D(1000)] * 4
    assert {c.location_id for c in made} == {w.cabinet.pk}
    assert LedgerEntry.objects.filter(container__receipt=receipt, kind="receive").count() == 4
    assert [(e.action, e.patient_id) for e in events_since(before)] == [("ledger.receive", None)]
    assert actions.verify_ledger().intact


def test_receipt_with_bad_fields_names_each_and_saves_nothing(ledger_world):
    w = ledger_world
    receipts, before = Receipt.objects.count(), last_seq()
    today = timezone.localdate()

    with pytest.raises(InvalidInputs) as caught:
        actions.receive(
            by=w.prescriber,
            location=w.safe,
            **{**SUPPLIER, "supplier_dea_number": "AB1234564", "invoice_number": ""},
            **{**KETAMINE_50, "ndc": "4092051", "mg_per_ml": "fifty"},
            received_on=today + timedelta(days=1),
            lot_number="L1",
            expires_on=today,
            containers=0,
        )

    assert sorted(fields_of(caught.value)) == sorted(
        [
            "supplier_dea_number",
            "invoice_number",
            "received_on",
            "expires_on",
            "containers",
            "ndc",
            "mg_per_ml",
        ]
    )
    assert Receipt.objects.count() == receipts
    assert events_since(before) == []


def test_same_ndc_with_another_strength_is_refused(ledger_world):
    with pytest.raises(InvalidInputs) as caught:
        receive(ledger_world.prescriber, ledger_world.safe, mg_per_ml="100")
    assert fields_of(caught.value) == ["ndc"]


# Administering


def test_administration_names_patient_and_session_and_opens_the_vial(ledger_world):
    w = ledger_world
    before = last_seq()

    entry = actions.administer(
        by=w.prescriber, container=w.sealed, session=w.session, quantity="0.703", unit="mL"
    )

    assert entry.quantity_mg == D("35.150")
    assert (entry.patient_id, entry.session_id) == (w.patient.pk, w.session.pk)
    container = Container.objects.get(pk=w.sealed.pk)
    assert container.balance_mg == D("464.850")
    assert container.status == "open"
    (event,) = events_since(before)
    assert (event.action, event.patient_id) == ("ledger.administer", w.patient.pk)
    # Ids only, never the quantity (an id may contain any digits: PostgreSQL's sequences are
    # not reset between tests).
    assert event.detail == {"container": w.sealed.pk, "session": w.session.pk}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"session": None}, "session", "is required"),
        ({"quantity": "400.001"}, "quantity", "more than the container holds"),
        ({"quantity": "0.00001", "unit": "mL"}, "quantity", "finer than"),
        ({"quantity": ""}, "quantity", "is required"),
        (
            {"occurred_at": timezone.now() + timedelta(hours=2)},
            "occurred_at",
            "cannot be in the future",
        ),
    ],
    ids=["no-session", "too-much", "too-fine", "empty", "future"],
)
def test_administration_refused(ledger_world, change, field, words):
    w = ledger_world
    data = {"session": w.session, "quantity": "10", "unit": "mg", **change}
    entries, before = LedgerEntry.objects.count(), last_seq()

    with pytest.raises((InvalidInput, InvalidInputs)) as caught:
        actions.administer(by=w.prescriber, container=w.drawn, **data)

    assert fields_of(caught.value) == [field]
    assert words in str(caught.value)
    assert LedgerEntry.objects.count() == entries
    assert balance(w.drawn) == D(400)
    assert events_since(before) == []


def test_no_dose_for_an_aborted_session(ledger_world):
    w = ledger_world
    dosing.change_status(by=w.prescriber, session=w.session, status="aborted", reason="Unwell")
    with pytest.raises(InvalidInputs, match="aborted"):
        actions.administer(by=w.prescriber, container=w.drawn, session=w.session, quantity="5")


def test_no_dose_from_an_expired_vial(ledger_world):
    w = ledger_world
    today = timezone.localdate()
    receipt = receive(
        w.prescriber,
        w.safe,
        containers=1,
        received_on=today - timedelta(days=30),
        expires_on=today - timedelta(days=1),
    )
    with pytest.raises(InvalidInputs) as caught:
        actions.administer(
            by=w.prescriber,
            container=Container.objects.get(receipt=receipt),
            session=w.session,
            quantity="5",
        )
    assert fields_of(caught.value) == ["container"]


def test_no_dose_for_a_session_at_another_site(ledger_world, make_patient):
    from kapstone.core.models import Site

    w = ledger_world
    other = Site.objects.create(organization=w.site.organization, name="Elsewhere", code="else")
    session = dosing.schedule_session(
        by=w.prescriber,
        patient=make_patient(),
        site=other,
        scheduled_start=timezone.now(),
        prescriber=w.prescriber,
    )
    ready_for_a_dose(session)
    with pytest.raises(InvalidInputs, match="another site"):
        actions.administer(by=w.prescriber, container=w.drawn, session=session, quantity="5")


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_only_licensed_roles_move_stock(ledger_world, make_staff, role):
    with pytest.raises(AccessDenied):
        actions.administer(
            by=make_staff(role),
            container=ledger_world.drawn,
            session=ledger_world.session,
            quantity="5",
        )


# Two signatures


def test_waste_is_signed_by_two_people(ledger_world):
    w = ledger_world
    entry = actions.waste(
        by=w.prescriber,
        container=w.drawn,
        quantity="2.5",
        witness=w.witness,
        witness_password=WITNESS_PASSWORD,
    )
    assert (entry.recorded_by_id, entry.second_signer_id) == (w.prescriber.pk, w.witness.pk)
    assert balance(w.drawn) == D("397.5")


@pytest.mark.parametrize(
    ("who", "password", "field", "words"),
    [
        ("self", SIGNING_PASSWORD, "witness", "different member of staff"),
        ("therapist", SIGNING_PASSWORD, "witness", "licensed"),
        ("witness", "not the password", "witness_password", "does not match"),
        ("witness", "", "witness_password", "does not match"),
        (None, "", "witness", "is required"),
    ],
    ids=["self", "unlicensed", "wrong-password", "no-password", "no-witness"],
)
def test_waste_witness_refused(ledger_world, make_staff, who, password, field, words):
    w = ledger_world
    nurse = make_staff(Role.NURSE, password=SIGNING_PASSWORD)
    witness = {
        "self": nurse,
        "therapist": make_staff(Role.THERAPIST, password=SIGNING_PASSWORD),
        "witness": w.witness,
        None: None,
    }[who]
    entries = LedgerEntry.objects.count()

    with pytest.raises(InvalidInputs) as caught:
        actions.waste(
            by=nurse, container=w.drawn, quantity="1", witness=witness, witness_password=password
        )

    assert fields_of(caught.value) == [field]
    assert words in str(caught.value)
    assert LedgerEntry.objects.count() == entries


def test_destruction_records_form_41_data(ledger_world):
    w = ledger_world
    entry = actions.destroy(
        by=w.prescriber,
        container=w.sealed,
        quantity="500",
        method="Denaturing kit",
        place="Back office",
        witness=w.witness,
        witness_password=WITNESS_PASSWORD,
    )
    assert (entry.method, entry.place, entry.second_signer_id) == (
        "Denaturing kit",
        "Back office",
        w.witness.pk,
    )
    assert Container.objects.get(pk=w.sealed.pk).status == "empty"


def test_destruction_needs_method_place_and_witness(ledger_world):
    with pytest.raises(InvalidInputs) as caught:
        actions.destroy(
            by=ledger_world.prescriber,
            container=ledger_world.sealed,
            quantity="500",
            method="",
            place="",
            witness=None,
            witness_password="",
        )
    assert fields_of(caught.value) == ["method", "place", "witness"]


def test_return_needs_the_recipients_registration(ledger_world):
    w = ledger_world
    with pytest.raises(InvalidInputs) as caught:
        actions.return_stock(
            by=w.prescriber,
            container=w.sealed,
            quantity="500",
            recipient_name="Harbor Reverse Distribution",
            recipient_address="",
            recipient_dea_number="XX",
            witness=w.witness,
            witness_password=WITNESS_PASSWORD,
        )
    assert fields_of(caught.value) == ["recipient_address", "recipient_dea_number"]


# Moving, losing, adjusting


def test_transfer_moves_the_whole_container(ledger_world):
    w = ledger_world
    entry = actions.transfer(by=w.prescriber, container=w.drawn, to_location=w.cabinet)
    assert (entry.quantity_mg, entry.delta_mg) == (D(400), D(0))
    assert Container.objects.get(pk=w.drawn.pk).location_id == w.cabinet.pk
    with pytest.raises(InvalidInputs, match="already is"):
        actions.transfer(by=w.prescriber, container=w.drawn, to_location=w.cabinet)


def test_loss_report_keeps_its_deadlines(ledger_world):
    w = ledger_world
    friday = timezone.make_aware(timezone.datetime(2026, 11, 20, 9, 0))
    report = actions.report_loss(
        by=w.prescriber,
        container=w.sealed,
        kind="loss",
        quantity="1",
        discovered_at=friday,
        description="Broken vial",
    )
    assert (report.notice_due.isoformat(), report.form_106_due.isoformat()) == (
        "2026-11-23",
        "2027-01-04",
    )
    assert report.entries.get().delta_mg == D(-1)


def test_loss_notice_skips_the_days_the_clinic_is_closed(ledger_world):
    # Arrange
    w = ledger_world
    org = Organization.current()
    org.settings_overrides = {"ledger": {"closed_days": ["2026-11-19", "2026-11-20"]}}
    org.save()
    wednesday = timezone.make_aware(timezone.datetime(2026, 11, 18, 9, 0))

    # Act
    report = actions.report_loss(
        by=w.prescriber,
        container=w.sealed,
        kind="loss",
        quantity="1",
        discovered_at=wednesday,
        description="Broken vial",
    )

    # Assert: Thursday and Friday closed, then the weekend.
    assert report.notice_due.isoformat() == "2026-11-23"


def test_loss_report_steps(ledger_world):
    w = ledger_world
    today = timezone.localdate()
    with pytest.raises(InvalidInputs) as caught:
        actions.update_loss_report(by=w.prescriber, report=w.loss, form_106_filed_on=today)
    assert fields_of(caught.value) == ["form_106_reference"]

    actions.update_loss_report(by=w.prescriber, report=w.loss, notice_sent_on=today)
    actions.update_loss_report(
        by=w.prescriber, report=w.loss, form_106_filed_on=today, form_106_reference="DEA-106-77"
    )

    report = LossReport.objects.get(pk=w.loss.pk)
    assert report.states(today) == {"notice": "done", "form_106": "done"}
    with pytest.raises(InvalidInputs, match="already recorded"):
        actions.update_loss_report(by=w.prescriber, report=w.loss, notice_sent_on=today)


def test_adjustment_needs_a_reason(ledger_world):
    with pytest.raises(InvalidInputs) as caught:
        actions.adjust(
            by=ledger_world.prescriber,
            container=ledger_world.drawn,
            direction="sideways",
            quantity="1",
            reason=" ",
        )
    assert fields_of(caught.value) == ["reason", "direction"]


# Reversal


def test_reversal_restores_and_keeps_the_original(ledger_world):
    w = ledger_world
    before = last_seq()

    reversal = actions.reverse(by=w.prescriber, entry=w.administration, reason="Wrong vial")

    assert balance(w.drawn) == D(500)
    assert reversal.reversal_of_id == w.administration.pk
    assert LedgerEntry.objects.get(pk=w.administration.pk).quantity_mg == D(100)
    (event,) = events_since(before)
    assert (event.action, event.patient_id) == ("ledger.reverse", w.patient.pk)
    with pytest.raises(InvalidInputs, match="already been reversed"):
        actions.reverse(by=w.prescriber, entry=w.administration, reason="Again")
    with pytest.raises(InvalidInputs, match="is a reversal"):
        actions.reverse(by=w.prescriber, entry=reversal, reason="Undo the undo")


def test_reversing_a_receipt_after_a_draw_is_refused(ledger_world):
    w = ledger_world
    received = LedgerEntry.objects.get(container=w.drawn, kind="receive")
    with pytest.raises(InvalidInput, match="no longer holds enough"):
        actions.reverse(by=w.prescriber, entry=received, reason="Never arrived")
    assert balance(w.drawn) == D(400)


def test_reversing_a_transfer_moves_the_container_back(ledger_world):
    w = ledger_world
    moved = actions.transfer(by=w.prescriber, container=w.drawn, to_location=w.cabinet)
    actions.reverse(by=w.prescriber, entry=moved, reason="Wrong cabinet")
    container = Container.objects.get(pk=w.drawn.pk)
    assert (container.location_id, container.balance_mg) == (w.safe.pk, D(400))


# Counts and reconciliation


def test_count_that_agrees_opens_nothing(ledger_world):
    w = ledger_world
    count = actions.record_count(
        by=w.prescriber,
        site=w.site,
        location=w.safe,
        kind="daily",
        unit="mL",
        counted={w.drawn.pk: "8", w.stolen.pk: "9.8", w.sealed.pk: "10"},
    )
    assert not hasattr(count, "reconciliation")
    assert [line.counted_mg for line in count.lines.order_by("container_id")] == [
        D(400),
        D(490),
        D(500),
    ]


def test_count_needs_every_container_and_an_inventory_its_timing(ledger_world):
    w = ledger_world
    with pytest.raises(InvalidInputs) as caught:
        actions.record_count(
            by=w.prescriber,
            site=w.site,
            kind="biennial",
            unit="mg",
            counted={w.drawn.pk: "400"},
        )
    assert fields_of(caught.value) == ["timing"]
    with pytest.raises(InvalidInputs) as caught:
        actions.record_count(
            by=w.prescriber,
            site=w.site,
            kind="biennial",
            timing="close",
            unit="mg",
            counted={w.drawn.pk: "400", w.stolen.pk: "-1"},
        )
    assert fields_of(caught.value) == [f"container_{w.stolen.pk}", f"container_{w.sealed.pk}"]


def test_reconciliation_is_resolved_and_signed_by_the_prescriber(ledger_world, make_staff):
    w = ledger_world
    prescriber = make_staff(Role.PRESCRIBER, password=SIGNING_PASSWORD)
    nurse = make_staff(Role.NURSE, password=SIGNING_PASSWORD)
    resolution = {
        "reconciliation": w.reconciliation,
        "resolution": "adjust_to_count",
        "explanation": "Spill seen by two nurses",
    }
    with pytest.raises(AccessDenied):
        actions.resolve_reconciliation(by=nurse, password=SIGNING_PASSWORD, **resolution)
    with pytest.raises(InvalidInputs) as caught:
        actions.resolve_reconciliation(by=prescriber, password="guess", **resolution)
    assert fields_of(caught.value) == ["password"]

    actions.resolve_reconciliation(by=prescriber, password=SIGNING_PASSWORD, **resolution)

    assert balance(w.drawn) == D(390)
    adjustment = LedgerEntry.objects.get(reconciliation=w.reconciliation)
    assert (adjustment.kind, adjustment.delta_mg) == ("adjust", D(-10))
    with pytest.raises(InvalidInputs, match="cannot resolve"):
        actions.resolve_reconciliation(by=prescriber, password=SIGNING_PASSWORD, **resolution)
    assert actions.verify_ledger().intact


# The database's own guards


def _force(**fields):
    with transaction.atomic():
        LedgerEntry.objects.create(**fields)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "administer"},  # no patient, no session
        {"kind": "waste", "delta_mg": D(-1)},  # no witness
        {"kind": "receive", "delta_mg": D(-1)},  # wrong sign
        {"quantity_mg": D(0), "delta_mg": D(0)},
        {"balance_after_mg": D(-1)},
        {"kind": "adjust", "reason": ""},
        {"kind": "transfer", "delta_mg": D(0)},  # no destination
    ],
    ids=["no-patient", "no-witness", "wrong-sign", "zero", "negative", "no-reason", "nowhere"],
)
def test_database_refuses_an_impossible_entry(ledger_world, change):
    w = ledger_world
    fields = {
        "seq": 9999,
        "kind": "receive",
        "container": w.drawn,
        "location": w.safe,
        "quantity_mg": D(1),
        "delta_mg": D(1),
        "balance_after_mg": D(1),
        "occurred_at": timezone.now(),
        "recorded_at": timezone.now(),
        "recorded_by": w.prescriber,
        "prev_hash": "x",
        "hash": "y",
        **change,
    }
    with pytest.raises(IntegrityError):
        _force(**fields)


def test_database_refuses_the_same_person_signing_twice(ledger_world):
    w = ledger_world
    with pytest.raises(IntegrityError):
        _force(
            seq=9999,
            kind="waste",
            container=w.drawn,
            location=w.safe,
            quantity_mg=D(1),
            delta_mg=D(-1),
            balance_after_mg=D(399),
            occurred_at=timezone.now(),
            recorded_at=timezone.now(),
            recorded_by=w.prescriber,
            second_signer=w.prescriber,
            prev_hash="x",
            hash="y",
        )


def test_database_refuses_a_negative_container_balance(ledger_world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Container.objects.filter(pk=ledger_world.drawn.pk).update(balance_mg=D("-0.001"))


def test_database_refuses_to_update_or_delete_an_entry(ledger_world):
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=ledger_world.administration.pk).update(quantity_mg=D(1))
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=ledger_world.administration.pk).delete()


# Tampering behind the application's back


def test_edited_entry_is_detected(ledger_world):
    guard.remove(connection)  # an attacker with direct database access
    _sql(
        f"UPDATE {TABLE} SET quantity_mg = %s, delta_mg = %s WHERE id = %s",
        ["10", "-10", ledger_world.administration.pk],
    )
    report = actions.verify_ledger()
    assert not report.intact
    assert report.first_bad_seq == ledger_world.administration.seq
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("ledger", "verify")


def test_edited_container_balance_is_detected(ledger_world):
    Container.objects.filter(pk=ledger_world.drawn.pk).update(balance_mg=D(450))
    report = actions.verify_ledger()
    assert not report.intact
    assert "balance does not match" in report.problem


def test_deleted_newest_entry_is_detected(ledger_world):
    guard.remove(connection)
    newest = LedgerEntry.objects.order_by("-seq").first()
    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [newest.pk])
    assert not actions.verify_ledger().intact


def test_verify_command_reports_an_intact_ledger(ledger_world, capsys):
    call_command("ledger", "verify")
    out = capsys.readouterr().out
    assert "ledger intact" in out
    assert f"head: entry {LedgerEntry.objects.count()}" in out


def test_every_action_wrote_one_audit_event(ledger_world):
    actions_seen = list(
        AuditEvent.objects.filter(action__startswith="ledger.").values_list("action", flat=True)
    )
    assert sorted(actions_seen) == sorted(
        [
            "ledger.location.create",
            "ledger.location.create",
            "ledger.receive",
            "ledger.count",
            "ledger.administer",
            "ledger.loss",
            "ledger.count",
        ]
    )
