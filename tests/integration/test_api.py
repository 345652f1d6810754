"""The JSON API against every role: the same permissions and audit trail as the pages, token
authentication, and error bodies that never echo what was submitted."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role, roles_with
from kapstone.api import api
from kapstone.audit.models import AuditEvent
from kapstone.patients import actions
from kapstone.patients.models import BodyMeasurement, Diagnosis, Patient
from kapstone.staff.actions import issue_api_token, revoke_api_token
from kapstone.staff.models import ApiToken

ALL_ROLES = list(Role)
NEW_PATIENT = {
    "first_name": "Jordan",
    "last_name": "Newcombe",
    "date_of_birth": "1990-02-03",
    "sex_at_birth": "male",
    "weight": "80",
}


@dataclass(frozen=True)
class Op:
    id: str
    method: str
    # The path as the OpenAPI document names it; {patient_id} is filled in per test.
    path: str
    permission: P
    status: int
    audit: str
    body: dict | None = None
    query: str = ""
    # What a write changes; a refused call must leave it as it was.
    state: Callable[[Patient], object] | None = None

    def url(self, patient: Patient) -> str:
        url = "/api" + self.path.replace("{patient_id}", str(patient.pk))
        return f"{url}?{self.query}" if self.query else url


OPS = [
    Op("list", "get", "/patients", P.PATIENT_VIEW_DEMOGRAPHICS, 200, "patient.list"),
    Op(
        "search",
        "get",
        "/patients",
        P.PATIENT_VIEW_DEMOGRAPHICS,
        200,
        "patient.list",
        query="q=Testpatient",
    ),
    Op(
        "create",
        "post",
        "/patients",
        P.PATIENT_REGISTER,
        201,
        "patient.create",
        body=NEW_PATIENT,
        state=lambda p: Patient.objects.count(),
    ),
    Op("get", "get", "/patients/{patient_id}", P.PATIENT_VIEW_DEMOGRAPHICS, 200, "patient.view"),
    Op(
        "patch",
        "patch",
        "/patients/{patient_id}",
        P.PATIENT_EDIT_DEMOGRAPHICS,
        200,
        "patient.update",
        body={"phone": "555-0199"},
        state=lambda p: Patient.objects.get(pk=p.pk).phone,
    ),
    Op(
        "clinical",
        "get",
        "/patients/{patient_id}/clinical",
        P.PATIENT_VIEW_CLINICAL,
        200,
        "patient.view",
    ),
    Op(
        "diagnoses",
        "get",
        "/patients/{patient_id}/diagnoses",
        P.PATIENT_VIEW_DIAGNOSES,
        200,
        "patient.view",
    ),
    Op(
        "add-diagnosis",
        "post",
        "/patients/{patient_id}/diagnoses",
        P.PATIENT_EDIT_DIAGNOSES,
        201,
        "diagnosis.create",
        body={"code": "F40.10"},
        state=lambda p: Diagnosis.objects.filter(patient=p).count(),
    ),
    Op(
        "add-measurement",
        "post",
        "/patients/{patient_id}/measurements",
        P.PATIENT_EDIT_CLINICAL,
        201,
        "measurement.create",
        body={"weight": "72"},
        state=lambda p: BodyMeasurement.objects.filter(patient=p).count(),
    ),
]


def _router_operations() -> set[tuple[str, str]]:
    found = set()
    for _prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                found |= {(method.lower(), path) for method in operation.methods}
    return found


@pytest.fixture
def patient(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    actions.add_diagnosis(by=clinician, patient=patient, code="F41.1")
    return patient


@pytest.fixture
def api_client(make_staff):
    """A client carrying a fresh token for a new user in the given roles."""

    def make(*roles: Role, expires_at=None) -> tuple[Client, object]:
        user = make_staff(*roles)
        token = issue_api_token(by=None, user=user, name="t", expires_at=expires_at)
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}"), user

    return make


def _call(client: Client, method: str, url: str, body: dict | None = None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def test_operation_table_covers_every_api_operation():
    # Arrange
    tested = {(op.method, op.path) for op in OPS}

    # Act
    routed = _router_operations()

    # Assert
    assert tested == routed


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.id)
def test_api_access_follows_role_map(op, role, patient, api_client):
    # Arrange
    client, user = api_client(role)
    before_state = op.state(patient) if op.state else None
    before_seq = _last_seq()

    # Act
    response = _call(client, op.method, op.url(patient), op.body)

    # Assert
    events = _events_since(before_seq)
    after_state = op.state(patient) if op.state else None
    body = response.json()
    if role in roles_with(op.permission):
        assert response.status_code == op.status, body
        if op.state:
            assert after_state != before_state, "a successful write changed nothing"
        expected_patient = body["id"] if op.id == "create" else patient.pk
        audited = [(e.action, e.actor_id, e.patient_id) for e in events]
        assert audited == [(op.audit, user.pk, expected_patient)]
    else:
        assert response.status_code == 403
        assert response["Content-Type"].startswith("application/json")
        assert body == {"detail": f"this needs the permission '{op.permission}'"}
        (event,) = events
        assert (event.action, event.actor_id, event.patient_id) == ("access.denied", user.pk, None)
        assert event.detail["permission"] == str(op.permission)
        assert after_state == before_state


# Written out by hand, so that a wrong role map cannot pass by agreeing with itself.
@pytest.mark.parametrize(
    ("role", "op_id", "status"),
    [
        (Role.RESEARCHER, "list", 403),
        (Role.RESEARCHER, "get", 403),
        (Role.CLINIC_ADMIN, "get", 403),
        (Role.CLINIC_ADMIN, "clinical", 403),
        (Role.BILLING, "diagnoses", 200),
        (Role.BILLING, "clinical", 403),
        (Role.FRONT_DESK, "create", 201),
        (Role.FRONT_DESK, "clinical", 403),
        (Role.FRONT_DESK, "add-diagnosis", 403),
        (Role.NURSE, "add-diagnosis", 403),
        (Role.NURSE, "add-measurement", 201),
        (Role.THERAPIST, "add-diagnosis", 201),
        (Role.PRESCRIBER, "add-diagnosis", 201),
    ],
)
def test_api_policy_critical_facts(role, op_id, status, patient, api_client):
    # Arrange
    client, _ = api_client(role)
    op = next(op for op in OPS if op.id == op_id)

    # Act
    response = _call(client, op.method, op.url(patient), op.body)

    # Assert
    assert response.status_code == status


def test_api_list_returns_patients_found(patient, make_patient, api_client):
    # Arrange
    make_patient(first_name="Blake", last_name="Otherfamily")
    client, _ = api_client(Role.FRONT_DESK)

    # Act
    response = client.get("/api/patients", {"q": "testpat"})

    # Assert
    body = response.json()
    assert response.status_code == 200
    assert (body["count"], body["page"], body["pages"]) == (1, 1, 1)
    assert [r["record_number"] for r in body["results"]] == [patient.record_number]


def test_api_clinical_returns_the_clinical_record(patient, clinician, api_client):
    # Arrange
    actions.add_allergy(by=clinician, patient=patient, substance="Latex", severity="severe")
    client, _ = api_client(Role.NURSE)
    before_seq = _last_seq()

    # Act
    response = client.get(f"/api/patients/{patient.pk}/clinical")

    # Assert
    body = response.json()
    assert response.status_code == 200
    assert [a["substance"] for a in body["allergies"]] == ["Latex"]
    assert [m["weight_kg"] for m in body["measurements"]] == ["70.00"]
    assert body["treatment_resistance"]["failed_medication_trials"] == 0
    (event,) = _events_since(before_seq)
    assert event.detail == {"via": "api", "sections": ["clinical"]}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer ",
        "Bearer garbage",
        "Bearer kap_deadbeef_notthesecret",
        "Basic dXNlcjpwYXNz",
    ],
    ids=["no-header", "empty", "malformed", "unknown", "wrong-scheme"],
)
def test_api_without_valid_token_is_unauthorised(authorization, patient):
    # Arrange
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()
    patients_before = Patient.objects.count()

    # Act
    read = client.get(f"/api/patients/{patient.pk}")
    write = _call(client, "post", "/api/patients", NEW_PATIENT)

    # Assert
    assert read.status_code == 401
    assert read.json() == {"detail": "a valid API token is required"}
    assert write.status_code == 401
    assert Patient.objects.count() == patients_before


def test_api_wrong_secret_for_a_real_prefix_is_unauthorised(patient, api_client):
    # Arrange
    client, _ = api_client(Role.PRESCRIBER)
    real = client.defaults["HTTP_AUTHORIZATION"]
    forged = real[: real.rindex("_") + 1] + "x" * 43
    client = Client(HTTP_AUTHORIZATION=forged)

    # Act
    response = client.get(f"/api/patients/{patient.pk}")

    # Assert
    assert response.status_code == 401


def test_api_revoked_token_is_unauthorised(patient, api_client):
    # Arrange
    client, user = api_client(Role.PRESCRIBER)
    assert client.get(f"/api/patients/{patient.pk}").status_code == 200
    revoke_api_token(by=None, token=ApiToken.objects.get(user=user))

    # Act
    response = client.get(f"/api/patients/{patient.pk}")

    # Assert
    assert response.status_code == 401


def test_api_expired_token_is_unauthorised(patient, api_client):
    # Arrange
    client, _ = api_client(Role.PRESCRIBER, expires_at=timezone.now() - timedelta(seconds=1))

    # Act
    response = client.get(f"/api/patients/{patient.pk}")

    # Assert
    assert response.status_code == 401


def test_api_token_of_deactivated_user_is_unauthorised(patient, api_client):
    # Arrange
    client, user = api_client(Role.PRESCRIBER)
    user.is_active = False
    user.save(update_fields=["is_active"])

    # Act
    response = client.get(f"/api/patients/{patient.pk}")

    # Assert
    assert response.status_code == 401


def test_api_token_records_last_use(patient, api_client):
    # Arrange
    client, user = api_client(Role.PRESCRIBER)

    # Act
    client.get(f"/api/patients/{patient.pk}")

    # Assert
    assert ApiToken.objects.get(user=user).last_used_at is not None


def test_api_refused_role_cannot_probe_for_records(api_client, clinic):
    # Arrange
    allowed, _ = api_client(Role.FRONT_DESK)
    refused, _ = api_client(Role.RESEARCHER)

    # Act
    found = allowed.get("/api/patients/999999")
    probed = refused.get("/api/patients/999999")

    # Assert
    assert (found.status_code, found.json()) == (404, {"detail": "not found"})
    assert probed.status_code == 403


def test_openapi_document_is_public_and_complete(db):
    # Arrange
    client = Client()

    # Act
    response = client.get("/api/openapi.json")

    # Assert
    assert response.status_code == 200
    document = json.loads(response.content)
    listed = {
        (method, path.removeprefix("/api"))
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert listed == {(op.method, op.path) for op in OPS}
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if (s["type"], s["scheme"]) == ("http", "bearer")]
    assert bearer
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{bearer[0]: []}]


# Validation: 422 naming the field and the rule, and never the submitted value, which may be
# patient data on its way into someone's logs.


@pytest.mark.parametrize(
    ("changes", "field", "words", "secret"),
    [
        ({"date_of_birth": "1985-13-45"}, "date_of_birth", ("valid date",), "1985-13-45"),
        ({"weight": "700"}, "weight", ("between",), "700"),
        ({"weight": "Zeppelin"}, "weight", ("must be a number",), "Zeppelin"),
        ({"sex_at_birth": "Zucchini"}, "sex_at_birth", ("allowed choices",), "Zucchini"),
        ({"home_site_id": "Zanzibar"}, "home_site_id", ("integer",), "Zanzibar"),
        ({"home_site_id": 424242}, "home_site_id", ("active site",), "424242"),
        (
            {"date_of_birth": str(timezone.localdate() + timedelta(days=3))},
            "date_of_birth",
            ("cannot be in the future",),
            str(timezone.localdate() + timedelta(days=3)),
        ),
    ],
    ids=[
        "impossible-date",
        "weight-range",
        "weight-text",
        "sex-choice",
        "site-type",
        "site-unknown",
        "born-later",
    ],
)
def test_api_create_invalid_names_field_not_value(changes, field, words, secret, api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)
    payload = {**NEW_PATIENT, "first_name": "Zebulon", **changes}
    patients_before = Patient.objects.count()

    # Act
    response = _call(client, "post", "/api/patients", payload)

    # Assert
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert set(error) == {"field", "message"}
    # Schema errors arrive as 'payload.<name>', rule errors as '<name>'.
    assert error["field"].rsplit(".", 1)[-1] == field
    for word in words:
        assert word in error["message"]
    text = response.content.decode()
    assert "Zebulon" not in text
    assert secret not in text
    assert Patient.objects.count() == patients_before


def test_api_create_reports_every_missing_field(api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)

    # Act
    response = _call(client, "post", "/api/patients", {"first_name": "Zebulon"})

    # Assert
    assert response.status_code == 422
    fields = {e["field"].rsplit(".", 1)[-1] for e in response.json()["errors"]}
    assert fields == {"last_name", "date_of_birth", "sex_at_birth"}
    assert "Zebulon" not in response.content.decode()


def test_api_error_field_names_match_between_schema_and_rules(api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)

    # Act
    schema = _call(client, "post", "/api/patients", {**NEW_PATIENT, "date_of_birth": "nope"})
    rule = _call(client, "post", "/api/patients", {**NEW_PATIENT, "date_of_birth": "2999-01-01"})

    # Assert
    assert schema.json()["errors"][0]["field"] == rule.json()["errors"][0]["field"]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("F40.2", ("is a category",)),
        ("X99.999", ("is not in the ICD-10-CM code set",)),
        ("F41.1", ("already an active diagnosis",)),
    ],
    ids=["category", "unknown-code", "duplicate"],
)
def test_api_add_diagnosis_invalid_is_refused(code, words, patient, api_client):
    # Arrange
    client, _ = api_client(Role.THERAPIST)
    before_seq = _last_seq()
    diagnoses_before = Diagnosis.objects.count()

    # Act
    response = _call(client, "post", f"/api/patients/{patient.pk}/diagnoses", {"code": code})

    # Assert
    assert response.status_code == 422
    ((field, message),) = [(e["field"], e["message"]) for e in response.json()["errors"]]
    assert field == "code"
    for word in words:
        assert word in message
    assert Diagnosis.objects.count() == diagnoses_before
    assert _events_since(before_seq) == []


def test_api_created_patient_gets_next_record_number(api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)

    # Act
    first = _call(client, "post", "/api/patients", NEW_PATIENT).json()
    second = _call(client, "post", "/api/patients", {**NEW_PATIENT, "first_name": "Casey"}).json()

    # Assert
    assert re.fullmatch(r"K\d{6}", first["record_number"])
    assert int(second["record_number"][1:]) == int(first["record_number"][1:]) + 1
    stored = Patient.objects.get(pk=first["id"])
    assert stored.record_number == first["record_number"]
    assert str(stored.measurements.get().weight_kg) == "80.00"


def test_api_patch_audits_changed_field_names_only(patient, api_client):
    # Arrange
    client, user = api_client(Role.FRONT_DESK)
    before_seq = _last_seq()
    changes = {"first_name": "Zebulon", "last_name": patient.last_name, "city": "Zanesville"}

    # Act
    response = _call(client, "patch", f"/api/patients/{patient.pk}", changes)

    # Assert
    assert response.status_code == 200
    assert (response.json()["first_name"], response.json()["city"]) == ("Zebulon", "Zanesville")
    (event,) = _events_since(before_seq)
    assert (event.action, event.actor_id, event.patient_id) == (
        "patient.update",
        user.pk,
        patient.pk,
    )
    assert sorted(event.detail["fields"]) == ["city", "first_name"]
    stored = json.dumps(event.detail)
    assert "Zebulon" not in stored
    assert "Zanesville" not in stored
    assert patient.last_name not in stored


def test_api_patch_invalid_changes_nothing(patient, api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)
    before_seq = _last_seq()

    # Act
    response = _call(
        client, "patch", f"/api/patients/{patient.pk}", {"first_name": "Zebulon", "last_name": ""}
    )

    # Assert
    assert response.status_code == 422
    assert response.json() == {"errors": [{"field": "last_name", "message": "is required"}]}
    assert Patient.objects.get(pk=patient.pk).first_name == patient.first_name
    assert _events_since(before_seq) == []


def test_api_patch_without_changes_still_audits_the_read(patient, api_client):
    # Arrange
    client, user = api_client(Role.FRONT_DESK)
    before_seq = _last_seq()

    # Act
    response = _call(
        client, "patch", f"/api/patients/{patient.pk}", {"first_name": patient.first_name}
    )

    # Assert
    assert response.status_code == 200
    assert response.json()["date_of_birth"] == str(patient.date_of_birth)
    assert [(e.actor_id, e.patient_id) for e in _events_since(before_seq)] == [
        (user.pk, patient.pk)
    ]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_api_invalid_email_is_refused_as_on_the_web(method, patient, api_client):
    # Arrange
    client, _ = api_client(Role.FRONT_DESK)
    url = "/api/patients" if method == "post" else f"/api/patients/{patient.pk}"
    body = {**NEW_PATIENT, "email": "not-an-address"} if method == "post" else {"email": "nope"}

    # Act
    response = _call(client, method, url, body)

    # Assert
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["email"]
