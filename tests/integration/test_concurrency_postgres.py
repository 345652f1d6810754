"""Behaviour that needs real concurrent transactions: PostgreSQL only."""

import threading
from datetime import date

import pytest
from django.db import connection, connections

from kapstone.audit.recording import verify_chain
from kapstone.patients import actions
from kapstone.patients.models import Patient

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgres():
    assert connection.vendor == "postgresql", "run these in the PostgreSQL pass"


def test_simultaneous_registrations_get_distinct_record_numbers(
    transactional_db, clinic, clinician
):
    barrier = threading.Barrier(8)
    errors = []

    def register(i):
        try:
            barrier.wait()
            actions.register_patient(
                by=clinician,
                first_name=f"Parallel{i}",
                last_name="Patient",
                date_of_birth=date(1980, 1, 1),
                sex_at_birth="unknown",
            )
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = list(Patient.objects.values_list("record_number", flat=True))
    assert len(numbers) == len(set(numbers)) == 8
    # The audit chain stayed linear under concurrent writers.
    assert verify_chain().intact


def test_database_collation_check_passes_on_a_code_point_database(db):
    from kapstone.core.checks import postgres_collation

    assert postgres_collation(None, databases=["default"]) == []


def test_database_collation_check_warns_on_a_linguistic_collation(db, monkeypatch):
    from kapstone.core import checks

    monkeypatch.setattr(checks, "CODE_POINT_COLLATIONS", set())
    (warning,) = checks.postgres_collation(None, databases=["default"])
    assert warning.id == "kapstone.W001"
