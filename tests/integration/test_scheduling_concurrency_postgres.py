"""Two people booking the same room at once: one series is booked, the other refused."""

import threading

import pytest
from django.db import connection, connections

from kapstone.audit.recording import verify_chain
from kapstone.errors import InvalidInputs
from kapstone.scheduling.models import Appointment
from tests.integration.scheduling_world import book, rooms, sign_plan_for

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgres():
    assert connection.vendor == "postgresql", "run these in the PostgreSQL pass"


def test_simultaneous_bookings_of_one_room_book_only_one(
    transactional_db, clinic, clinician, make_patient, make_staff
):
    # Arrange
    _org, site = clinic
    dosing_room, _therapy = rooms(site)
    patients = [make_patient(first_name=f"Parallel{i}", last_name="Patient") for i in range(4)]
    plans = [sign_plan_for(patient, clinician, make_staff) for patient in patients]
    barrier = threading.Barrier(len(patients))
    refused, errors = [], []

    def attempt(i):
        try:
            barrier.wait()
            book(
                by=clinician, patient=patients[i], plan=plans[i], site=site, dosing_room=dosing_room
            )
        except InvalidInputs as error:
            refused.append({e.field for e in error.errors})
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    # Act
    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(patients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Assert
    assert errors == []
    assert refused == [{"room"}] * (len(patients) - 1)
    assert Appointment.objects.filter(room=dosing_room).count() == 6
    assert verify_chain().intact
