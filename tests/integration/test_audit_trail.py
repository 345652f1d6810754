"""The audit trail against a real database: chained, append-only, tamper-evident."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from kapstone.access.roles import Role
from kapstone.audit import guard
from kapstone.audit.models import AuditEvent, AuditEventPatient
from kapstone.audit.recording import verify_chain
from kapstone.patients import actions

TABLE = AuditEvent._meta.db_table
SHOWN = AuditEventPatient._meta.db_table


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def trail(make_patient, clinician):
    """A few real events: registrations, edits and a measurement."""
    patients = [make_patient() for _ in range(3)]
    actions.update_demographics(by=clinician, patient=patients[0], phone="207-555-0199")
    actions.record_measurement(by=clinician, patient=patients[1], weight="80", weight_unit="kg")
    return patients


def test_actions_write_a_verifiable_chain(trail):
    report = verify_chain()
    assert report.intact, report.problem
    assert report.events_checked == AuditEvent.objects.count() >= 5
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_event_records_who_what_which_record_and_where(trail, clinician):
    event = AuditEvent.objects.get(action="patient.update")
    assert event.actor_id == clinician.pk
    assert event.actor_username == clinician.username
    assert set(event.actor_roles.split(",")) == {"prescriber", "nurse", "therapist", "front_desk"}
    assert event.patient_id == trail[0].pk
    assert event.detail == {"fields": ["phone"]}  # the field's name, never its value
    assert "207-555-0199" not in str(event.detail)


def test_database_refuses_to_update_an_event(trail):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(action="nothing")


def test_database_refuses_to_delete_an_event(trail):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()


def test_edited_row_is_detected(trail):
    guard.remove(connection)  # an attacker with direct database access
    _sql(f"UPDATE {TABLE} SET actor_username = %s WHERE seq = 3", ["someone-else"])
    report = verify_chain()
    assert not report.intact
    assert report.first_bad_seq == 3
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit", "verify")


def test_deleted_row_is_detected(trail):
    guard.remove(connection)
    _sql(f"DELETE FROM {TABLE} WHERE seq = 2")
    report = verify_chain()
    assert not report.intact
    assert report.first_bad_seq == 2


def test_deleted_newest_row_is_detected(trail):
    guard.remove(connection)
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    _sql(f"DELETE FROM {TABLE} WHERE seq = %s", [last])
    assert not verify_chain().intact


def test_verify_command_reports_an_intact_trail(trail, capsys):
    call_command("audit", "verify")
    assert "audit trail intact" in capsys.readouterr().out


def test_rolled_back_change_leaves_no_event(patient, clinician):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.update_demographics(by=clinician, patient=patient, city="Bangor")
        raise RuntimeError("the surrounding work failed")
    assert AuditEvent.objects.count() == before
    assert verify_chain().intact


def test_admin_filters_by_record_number_and_sees_numbers_not_names(trail, client_for):
    admin = client_for(Role.CLINIC_ADMIN)
    target = trail[0]
    response = admin.get("/audit/", {"record": target.record_number})
    assert response.status_code == 200
    body = response.content.decode()
    assert target.record_number in body
    assert "patient.update" in body
    assert target.last_name not in body
    shown = response.context["page"].object_list
    assert shown and all(e.patient_id == target.pk for e in shown)


def test_admin_filters_by_action_and_actor(trail, client_for, clinician):
    admin = client_for(Role.CLINIC_ADMIN)
    response = admin.get("/audit/", {"action": "measurement.", "actor": clinician.username})
    events = list(response.context["page"].object_list)
    assert [e.action for e in events] == ["measurement.create"]


def test_export_is_csv_and_is_itself_audited(trail, client_for):
    admin = client_for(Role.CLINIC_ADMIN)
    response = admin.get("/audit/export.csv")
    assert response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("seq,occurred_at,actor_username")
    assert len(lines) - 1 >= 5
    assert AuditEvent.objects.filter(action="audit.export").count() == 1


def test_export_cells_cannot_run_as_spreadsheet_formulas(client_for, make_staff):
    from kapstone.audit.recording import record

    record(actor=make_staff(Role.BILLING, username="=HYPERLINK(1)"), action="patient.list")
    admin = client_for(Role.CLINIC_ADMIN)
    body = b"".join(admin.get("/audit/export.csv").streaming_content).decode()
    assert "'=HYPERLINK(1)" in body
    assert ",=HYPERLINK" not in body


@pytest.fixture
def listed(make_patient, client_for):
    """A search page showing three patients, and the one event it wrote."""
    patients = [make_patient(last_name=f"Listshown{i}") for i in range(3)]
    client = client_for(Role.FRONT_DESK)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    response = client.get("/patients/", {"q": "listshown"})
    assert response.status_code == 200
    events = list(AuditEvent.objects.filter(seq__gt=before))
    assert [e.action for e in events] == ["patient.list"]
    return patients, events[0], [p.pk for p in response.context["patients"]]


def test_a_list_page_writes_one_event_naming_every_patient_shown(listed):
    patients, event, shown = listed
    assert sorted(shown) == sorted(p.pk for p in patients)
    # The ids, in the order shown, are in the hashed detail...
    assert event.detail == {"searched": True, "patients": shown}
    assert event.patient_id is None
    assert event.target_type == "patients.patient"
    # ...and indexed one row each, for "who has seen this patient".
    indexed = AuditEventPatient.objects.filter(event=event).values_list("patient_id", flat=True)
    assert sorted(indexed) == sorted(shown)
    for patient in patients:
        assert list(
            AuditEvent.objects.naming_patient(patient.pk).filter(action="patient.list")
        ) == [event]
    assert verify_chain().intact


def test_admin_filtering_by_record_finds_the_lists_that_showed_it(listed, client_for):
    patients, event, _ = listed
    admin = client_for(Role.CLINIC_ADMIN)
    response = admin.get("/audit/", {"record": patients[1].record_number, "action": "patient.list"})
    assert [e.seq for e in response.context["page"].object_list] == [event.seq]
    assert f"{patients[1].record_number} among 3 patients" in response.content.decode()
    assert patients[1].last_name not in response.content.decode()


def test_export_names_the_patients_a_list_showed(listed, client_for):
    _, event, shown = listed
    admin = client_for(Role.CLINIC_ADMIN)
    body = b"".join(admin.get("/audit/export.csv").streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].endswith(",patients_listed")
    row = next(line for line in lines if line.startswith(f"{event.seq},"))
    assert row.endswith(",".join(["", " ".join(str(pk) for pk in shown)]))


def test_database_refuses_to_change_what_a_list_showed(listed):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEventPatient.objects.update(patient_id=0)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEventPatient.objects.all().delete()


def test_a_patient_removed_from_a_list_event_is_detected(listed):
    patients, event, _ = listed
    guard.remove(connection)
    _sql(f"DELETE FROM {SHOWN} WHERE patient_id = %s", [patients[0].pk])
    report = verify_chain()
    assert not report.intact
    assert report.first_bad_seq == event.seq


def test_a_patient_added_to_a_list_event_is_detected(listed, make_patient):
    _, event, _ = listed
    _sql(f"INSERT INTO {SHOWN} (event_seq, patient_id) VALUES (%s, %s)", [event.seq, 999999])
    report = verify_chain()
    assert not report.intact
    assert report.first_bad_seq == event.seq


def test_an_index_row_for_a_missing_event_is_detected(listed):
    _, event, _ = listed
    _sql(f"INSERT INTO {SHOWN} (event_seq, patient_id) VALUES (%s, %s)", [event.seq + 1000, 1])
    assert not verify_chain().intact
