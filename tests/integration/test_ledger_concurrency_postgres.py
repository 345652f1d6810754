"""Stock drawn at the same moment by two people: PostgreSQL only (real row locks)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.recording import verify_chain
from kapstone.dosing import actions as dosing
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.ledger import actions
from kapstone.ledger.models import Container, LedgerEntry
from tests.integration.test_ledger_fixtures import ready_for_a_dose, receive

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgres():
    assert connection.vendor == "postgresql", "run these in the PostgreSQL pass"


@pytest.fixture
def vial(transactional_db, clinic, clinician, patient):
    _org, site = clinic
    safe = actions.add_location(by=clinician, site=site, name="Safe", kind="safe")
    receipt = receive(clinician, safe, containers=1)
    container = Container.objects.get(receipt=receipt)
    session = dosing.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now(),
        prescriber=clinician,
    )
    return container, ready_for_a_dose(session)


def _draw_at_once(nurses, container, session, quantity) -> list:
    barrier = threading.Barrier(len(nurses))
    outcomes = []

    def draw(nurse):
        try:
            barrier.wait()
            actions.administer(by=nurse, container=container, session=session, quantity=quantity)
            outcomes.append("drawn")
        except (InvalidInput, InvalidInputs) as error:
            outcomes.append(str(error))
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=draw, args=(nurse,)) for nurse in nurses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_nurses_drawing_the_last_of_a_vial_exactly_one_succeeds(vial, clinician, make_staff):
    # Arrange
    container, session = vial
    actions.administer(by=clinician, container=container, session=session, quantity="400")
    nurses = [make_staff(Role.NURSE), make_staff(Role.NURSE)]

    # Act
    outcomes = _draw_at_once(nurses, container, session, "100")

    # Assert
    assert sorted(map(str, outcomes)) == ["drawn", "quantity: is more than the container holds"]
    assert Container.objects.get(pk=container.pk).balance_mg == 0
    assert LedgerEntry.objects.filter(kind="administer").count() == 2
    assert actions.verify_ledger().intact
    assert verify_chain().intact


def test_many_draws_at_once_never_overdraw(vial, make_staff):
    # Arrange
    container, session = vial
    nurses = [make_staff(Role.NURSE) for _ in range(8)]

    # Act
    outcomes = _draw_at_once(nurses, container, session, "150")

    # Assert: 500 mg gives three draws of 150 mg, and the ledger stays one chain.
    assert outcomes.count("drawn") == 3
    assert all(o == "drawn" or "more than the container holds" in str(o) for o in outcomes)
    assert Container.objects.get(pk=container.pk).balance_mg == Decimal(50)
    report = actions.verify_ledger()
    assert report.intact, report.problem
    assert report.entries_checked == 4
