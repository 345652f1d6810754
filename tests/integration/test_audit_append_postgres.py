"""Appending to the audit trail in one statement, the database hashing the link: PostgreSQL
only (elsewhere Python hashes; both must give the chain that `chain.verify` accepts)."""

import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from kapstone.audit import chain
from kapstone.audit.models import AuditChainHead, AuditEvent, AuditEventPatient
from kapstone.audit.recording import record, record_reads, verify_chain

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgres():
    assert connection.vendor == "postgresql", "run these in the PostgreSQL pass"


def _stored(event: AuditEvent) -> dict:
    row = AuditEvent.objects.filter(pk=event.pk).values(*chain.HASHED_FIELDS, "hash").get()
    row["occurred_at"] = row["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return row


def test_an_event_outside_a_transaction_is_one_statement_and_hashes_as_python_would(
    transactional_db, clinician, patient
):
    record(actor=clinician, action="setup")  # the trail's first event creates the head
    with CaptureQueriesContext(connection) as queries:
        event = record(actor=clinician, action="patient.view", target=patient)
    assert len(queries.captured_queries) == 1
    stored = _stored(event)
    assert stored["hash"] == event.hash == chain.event_hash(stored)
    assert stored["seq"] == event.seq
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash, head.prev_hash) == (event.seq, event.hash, event.prev_hash)
    assert verify_chain().intact


def test_a_list_event_writes_its_patients_in_the_same_statement(
    transactional_db, clinician, make_patient
):
    record(actor=clinician, action="setup")
    shown = [make_patient() for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        event = record_reads(actor=clinician, action="patient.list", targets=shown)
    assert len(queries.captured_queries) == 1
    indexed = AuditEventPatient.objects.filter(event_id=event.seq).values_list(
        "patient_id", flat=True
    )
    assert sorted(indexed) == sorted(p.pk for p in shown)
    assert verify_chain().intact


def test_an_event_inside_a_rolled_back_transaction_leaves_the_head_as_it_was(
    transactional_db, clinician
):
    from django.db import transaction

    first = record(actor=clinician, action="setup")
    with pytest.raises(RuntimeError), transaction.atomic():
        record(actor=clinician, action="patient.create")
        raise RuntimeError("the change failed")
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (first.seq, first.hash)
    assert verify_chain().intact


def test_simultaneous_readers_keep_one_unbroken_chain(transactional_db, clinician, patient):
    record(actor=clinician, action="setup")
    barrier = threading.Barrier(8)
    errors = []

    def read_charts():
        try:
            barrier.wait()
            for _ in range(25):
                record(actor=clinician, action="patient.view", target=patient)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read_charts) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.filter(action="patient.view").count() == 200
    report = verify_chain()
    assert report.intact, report.problem
    assert report.events_checked == AuditChainHead.objects.get(pk=1).seq
