"""Integration sessions and psychotherapy process notes: the modality forms, the record,
and who may read a process note (its author and those the author grants; nobody by role)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.core.models import Site
from kapstone.dosing import actions as dosing_actions
from kapstone.errors import AccessDenied, InvalidInputs
from kapstone.integration import actions, queries
from kapstone.integration.models import IntegrationSession, ProcessNote, ProcessNoteGrant
from tests.conftest import signed_in_client

NOTE = "Client noticed the protector part soften; explore grief next time."


def yesterday():
    return timezone.now() - timedelta(days=1)


@pytest.fixture
def therapist(make_staff):
    return make_staff(Role.THERAPIST)


@pytest.fixture
def session(patient, therapist):
    return actions.record_integration_session(
        by=therapist,
        patient=patient,
        modality="emdr",
        started_at=yesterday(),
        minutes=60,
        details={"phase": 4, "target_memory": "the accident", "sud_before": 8, "sud_after": 3},
    )


def url(session, suffix=""):
    return f"/patients/{session.patient_id}/integration/{session.pk}/{suffix}"


# Recording a session


def test_session_keeps_modality_times_scores_and_audits_fields_not_values(session, therapist):
    # Assert
    assert session.details == {
        "phase": 4,
        "target_memory": "the accident",
        "sud_before": 8,
        "sud_after": 3,
    }
    (event,) = AuditEvent.objects.filter(action="integration.create")
    assert event.patient_id == session.patient_id and event.actor_id == therapist.pk
    assert event.detail["fields"] == ["phase", "sud_after", "sud_before", "target_memory"]
    assert "accident" not in str(event.detail)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"minutes": 0}, [("minutes", "must be a whole number from 1 to 600")]),
        ({"minutes": None}, [("minutes", "must be a whole number from 1 to 600")]),
        ({"started_at": None}, [("started_at", "is required")]),
        (
            {"started_at": datetime(2026, 1, 1, 9, 0)},
            [("started_at", "must include a time zone")],
        ),
        (
            {"started_at": datetime.now(UTC) + timedelta(hours=2)},
            [("started_at", "cannot be in the future")],
        ),
        ({"modality": "hypnosis"}, [("modality", "is not one of the listed modalities")]),
        (
            {"details": {"phase": 9, "voc": 0}},
            [
                ("phase", "must be a whole number from 1 to 8"),
                ("voc", "must be a whole number from 1 to 7"),
            ],
        ),
    ],
)
def test_recording_refuses_naming_field_and_rule(patient, therapist, changes, expected):
    fields = {
        "modality": "emdr",
        "started_at": yesterday(),
        "minutes": 50,
        "details": {"phase": 2},
        **changes,
    }
    with pytest.raises(InvalidInputs) as raised:
        actions.record_integration_session(by=therapist, patient=patient, **fields)
    assert [(e.field, e.message) for e in raised.value.errors] == expected
    assert IntegrationSession.objects.count() == 0


@pytest.mark.parametrize("role", [Role.NURSE, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_only_integration_clinicians_record(make_staff, patient, role):
    with pytest.raises(AccessDenied):
        actions.record_integration_session(
            by=make_staff(role),
            patient=patient,
            modality="somatic",
            started_at=yesterday(),
            minutes=30,
            details={"technique": "yoga", "practice_minutes": 20},
        )


def test_a_dosing_session_must_be_the_patients_own(make_patient, patient, therapist, clinician):
    # Arrange
    site = Site.objects.get()
    other = make_patient()
    theirs = dosing_actions.schedule_session(
        by=clinician, patient=other, site=site, scheduled_start=yesterday(), prescriber=clinician
    )
    ours = dosing_actions.schedule_session(
        by=clinician, patient=patient, site=site, scheduled_start=yesterday(), prescriber=clinician
    )
    fields = {
        "by": therapist,
        "patient": patient,
        "modality": "somatic",
        "started_at": yesterday(),
        "minutes": 30,
        "details": {"technique": "grounding", "practice_minutes": 10},
    }

    # Act
    linked = actions.record_integration_session(**fields, dosing_session=ours)
    with pytest.raises(InvalidInputs) as raised:
        actions.record_integration_session(**fields, dosing_session=theirs)

    # Assert
    assert linked.dosing_session == ours
    assert [e.field for e in raised.value.errors] == ["dosing_session"]


@pytest.mark.parametrize(
    ("modality", "data", "stored"),
    [
        (
            "art",
            {"scene": "the hallway", "sud_before": "9", "sud_after": "1", "image_replaced": "yes"},
            {"scene": "the hallway", "sud_before": 9, "sud_after": 1, "image_replaced": True},
        ),
        (
            "ifs",
            {
                "part_1_name": "the critic",
                "part_1_role": "manager",
                "part_3_name": "the little one",
                "part_3_role": "exile",
                "self_energy": "6",
            },
            {
                "parts": [
                    {"name": "the critic", "role": "manager"},
                    {"name": "the little one", "role": "exile"},
                ],
                "self_energy": 6,
            },
        ),
        (
            "cbt_exposure",
            {"situation": "team meeting", "exposure_step": "speak once", "suds": "45"},
            {"situation": "team meeting", "exposure_step": "speak once", "suds": 45},
        ),
    ],
)
def test_the_modality_form_saves_its_structured_fields(patient, therapist, modality, data, stored):
    # Act
    response = signed_in_client(therapist).post(
        f"/patients/{patient.pk}/integration/new/{modality}/",
        {"started_at": "2026-11-20T10:00", "minutes": "55", **data},
    )

    # Assert
    assert response.status_code == 302
    session = IntegrationSession.objects.get()
    assert session.modality == modality and session.minutes == 55
    assert session.details == stored


def test_an_invalid_modality_form_is_refused_with_422_beside_the_field(patient, therapist):
    # Act
    response = signed_in_client(therapist).post(
        f"/patients/{patient.pk}/integration/new/ifs/",
        {
            "started_at": "2026-11-20T10:00",
            "minutes": "55",
            "part_2_name": "the firefighter",
            "self_energy": "12",
        },
    )

    # Assert
    page = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in page
    assert "Self-energy (0-10) must be a whole number from 0 to 10" in page
    assert "Part 2: role must be manager, firefighter, exile or other" in page
    assert IntegrationSession.objects.count() == 0


def test_unknown_modality_page_is_not_found(patient, therapist):
    response = signed_in_client(therapist).get(f"/patients/{patient.pk}/integration/new/x/")
    assert response.status_code == 404


def test_history_shows_modality_times_and_scores(session, make_staff):
    # Act
    page = signed_in_client(make_staff(Role.NURSE)).get(
        f"/patients/{session.patient_id}/integration/"
    )

    # Assert
    text = page.content.decode()
    assert "EMDR" in text and "SUD before (0-10): <strong>8</strong>" in text
    assert "Phase (1-8): <strong>4</strong>" in text


def test_session_of_another_patient_is_not_found(session, make_patient, therapist):
    other = make_patient()
    response = signed_in_client(therapist).get(f"/patients/{other.pk}/integration/{session.pk}/")
    assert response.status_code == 404


# Process notes: who may read one


@pytest.fixture
def people(make_staff, therapist):
    return {
        "author": therapist,
        "grantee": make_staff(Role.THERAPIST),
        "other therapist": make_staff(Role.THERAPIST),
        "prescriber": make_staff(Role.PRESCRIBER),
        "nurse": make_staff(Role.NURSE),
        "admin": make_staff(Role.CLINIC_ADMIN),
        "everything": make_staff(*Role),
    }


@pytest.fixture
def note(session, people):
    note = actions.write_process_note(by=people["author"], session=session, text=NOTE)
    actions.grant_process_note(by=people["author"], note=note, grantee=people["grantee"])
    return note


@pytest.mark.parametrize(
    ("who", "status", "reads"),
    [
        ("author", 200, True),
        ("grantee", 200, True),
        ("other therapist", 200, False),
        ("prescriber", 200, False),
        ("nurse", 200, False),
        ("admin", 403, False),
        ("everything", 200, False),
    ],
)
def test_process_note_privacy(note, session, people, who, status, reads):
    # Arrange
    user = people[who]
    client = signed_in_client(user)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    # Act
    response = client.get(url(session))

    # Assert
    assert response.status_code == status
    assert (NOTE in response.content.decode()) is reads
    assert (note in queries.readable_notes(user, session)) is reads
    assert queries.may_read(user, note) is reads
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    if status == 403:
        assert [e.action for e in events] == ["access.denied"]
    elif reads:
        (event,) = events
        assert event.action == "process_note.read"
        assert event.actor_id == user.pk and event.patient_id == session.patient_id
        assert event.detail == {"notes": [note.pk]}
    else:
        assert [e.action for e in events] == ["patient.view"]


def test_a_prescriber_reads_once_granted(note, session, people):
    # Arrange
    prescriber = people["prescriber"]

    # Act
    actions.grant_process_note(by=people["author"], note=note, grantee=prescriber)

    # Assert
    assert NOTE in signed_in_client(prescriber).get(url(session)).content.decode()
    event = AuditEvent.objects.filter(action="process_note.grant").order_by("seq").last()
    assert event.detail == {"session": session.pk, "grantee": prescriber.pk}
    assert event.patient_id == session.patient_id


def test_note_text_never_reaches_the_audit_trail(note):
    for event in AuditEvent.objects.all():
        assert "protector" not in str(event.detail)


@pytest.mark.parametrize(
    ("granter", "grantee", "field", "message"),
    [
        ("grantee", "other therapist", "note", "can be shared only by its author"),
        ("prescriber", "other therapist", "note", "can be shared only by its author"),
        ("author", "admin", "grantee", "must be a clinician who can read the record"),
        ("author", "author", "grantee", "must be someone other than the author"),
        ("author", "grantee", "grantee", "can already read this note"),
    ],
)
def test_only_the_author_grants_and_only_to_a_clinician(
    note, people, granter, grantee, field, message
):
    with pytest.raises(InvalidInputs) as raised:
        actions.grant_process_note(by=people[granter], note=note, grantee=people[grantee])
    assert [(e.field, e.message) for e in raised.value.errors] == [(field, message)]
    assert ProcessNoteGrant.objects.count() == 1


def test_grant_page_grants_the_authors_note(note, session, people):
    # Act
    response = signed_in_client(people["author"]).post(
        url(session, "note/access/"), {"note": note.pk, "grantee": people["other therapist"].pk}
    )

    # Assert
    assert response.status_code == 302
    assert queries.may_read(people["other therapist"], note)


def test_grant_page_refuses_someone_elses_note(note, session, people):
    # Act
    response = signed_in_client(people["grantee"]).post(
        url(session, "note/access/"), {"note": note.pk, "grantee": people["prescriber"].pk}
    )

    # Assert
    assert response.status_code == 422
    assert "Nothing was saved" in response.content.decode()
    assert not queries.may_read(people["prescriber"], note)


def test_empty_note_is_refused_with_422(session, therapist):
    response = signed_in_client(therapist).post(url(session, "note/"), {"text": "  "})
    assert response.status_code == 422
    assert "Process note is required" in response.content.decode()
    assert ProcessNote.objects.count() == 0


def test_process_notes_stay_off_the_chart_and_the_history(note, session, people):
    for path in (
        f"/patients/{session.patient_id}/",
        f"/patients/{session.patient_id}/integration/",
    ):
        page = signed_in_client(people["author"]).get(path)
        assert page.status_code == 200
        assert NOTE not in page.content.decode()


def test_the_author_withdraws_a_grant(note, session, people):
    # Arrange
    grant = ProcessNoteGrant.objects.get(grantee=people["grantee"])
    client = signed_in_client(people["author"])

    # Act
    response = client.post(url(session, "note/access/"), {"revoke": grant.pk})

    # Assert
    assert response.status_code == 302
    assert not queries.may_read(people["grantee"], note)
    assert NOTE not in signed_in_client(people["grantee"]).get(url(session)).content.decode()
    event = AuditEvent.objects.filter(action="process_note.revoke").get()
    assert event.detail == {"session": session.pk, "grantee": people["grantee"].pk}
    # Granted again later, they read it again.
    actions.grant_process_note(by=people["author"], note=note, grantee=people["grantee"])
    assert queries.may_read(people["grantee"], note)


def test_only_the_author_withdraws(note, session, people):
    # Arrange
    grant = ProcessNoteGrant.objects.get(grantee=people["grantee"])

    # Act
    response = signed_in_client(people["grantee"]).post(
        url(session, "note/access/"), {"revoke": grant.pk}, follow=True
    )

    # Assert
    assert "Nothing was saved" in response.content.decode()
    assert queries.may_read(people["grantee"], note)
    with pytest.raises(InvalidInputs):
        actions.revoke_process_note_grant(by=people["prescriber"], grant=grant)
