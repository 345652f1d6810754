"""Where a bedside monitor's readings go: the patient's dosing session in progress.

`device_store` is the store `kapstone mllp` hands each parsed ORU^R01 to. It finds the
patient by record number (PID-3), then the patient's dosing session in progress, then gives
the readings to ``kapstone.dosing.actions.record_device_readings``, the one function the
dosing-sessions work provides::

    def record_device_readings(
        *,
        session: DosingSession,           # under way (dosing.rules.UNDER_WAY), of the message's patient
        readings: tuple[Reading, ...],    # kapstone.monitoring.vitals.Reading, already checked
        source: str,                      # "device"
        control_id: str,                  # MSH-10: the sender's id for the message
    ) -> None

It records the readings (and their alerts, `vitals.alerts_for`) in one transaction with one
audit event, and raises a DomainError to refuse them. A monitor resends a message it got no
ACK for, so the same `control_id` may arrive twice: recording it once is the function's job.

Where that function is missing every message is answered AE "no store for readings yet".
Each refusal is a fixed phrase: the ACK and the log never carry the record number.
"""

import logging
from collections.abc import Sequence
from functools import cache
from importlib import import_module

from kapstone.errors import DomainError, InvalidInput, InvalidInputs
from kapstone.monitoring.hl7v2 import UNKNOWN_KEY_IDENTIFIER, OruMessage, Refused
from kapstone.monitoring.vitals import Reading

log = logging.getLogger("kapstone.mllp")

RECORDER_MODULE = "kapstone.dosing.actions"
RECORDER_NAME = "record_device_readings"


def _recorder():
    return getattr(import_module(RECORDER_MODULE), RECORDER_NAME, None)


@cache
def _lookups():
    """The two lookups every message makes, compiled once (kapstone.core.prepared): building
    their SQL cost more than storing the readings."""
    from kapstone.core.prepared import Prepared
    from kapstone.dosing.models import DosingSession
    from kapstone.patients.models import Patient

    patient = Prepared(lambda record_number: Patient.objects.filter(record_number=record_number))
    session = Prepared(
        lambda patient_id: (
            DosingSession.objects.under_way()
            .filter(patient_id=patient_id)
            .order_by("-scheduled_start", "-pk")[:1]
        )
    )
    return patient, session


def find_patient(record_number: str):
    found = _lookups()[0].instances(record_number)
    return found[0] if found else None


def session_in_progress(patient):
    """The patient's session under way (checked in to ready for discharge, or held), if any."""
    found = _lookups()[1].instances(patient.pk)
    return found[0] if found else None


def store_readings(
    patient, readings: Sequence[Reading], *, source: str = "device", control_id: str
) -> None:
    """Record `readings` against the patient's session in progress, or raise Refused."""
    session = session_in_progress(patient)
    if session is None:
        log.debug("device readings refused: no dosing session in progress")
        raise Refused("no dosing session in progress")
    recorder = _recorder()
    if recorder is None:
        log.debug("device readings refused: no store for readings yet")
        raise Refused("no store for readings yet")
    try:
        recorder(session=session, readings=tuple(readings), source=source, control_id=control_id)
    except InvalidInputs as errors:
        fields = ", ".join(sorted({error.field for error in errors.errors}))
        raise Refused(f"readings refused ({fields})") from None
    except InvalidInput as error:
        raise Refused(f"readings refused ({error.field})") from None
    except DomainError:
        raise Refused("readings refused") from None


def device_store(message: OruMessage) -> None:
    """The store for `hl7v2.make_handler`: resolve PID-3, then `store_readings`."""
    patient = find_patient(message.patient_id)
    if patient is None:
        log.debug("device readings refused: unknown patient")
        raise Refused("unknown patient", UNKNOWN_KEY_IDENTIFIER, field=3)
    store_readings(patient, message.readings, source="device", control_id=message.control_id)
