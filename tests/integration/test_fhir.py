"""The FHIR endpoints: public questionnaire responses posted as published and scored, scores
read back as Observations, refusals as OperationOutcomes that store nothing, and every
endpoint against every role."""

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kapstone.access.roles import Permission as P
from kapstone.access.roles import Role, roles_with
from kapstone.assessments.models import Assessment, RiskAlert
from kapstone.audit.models import AuditEvent
from kapstone.core.permissions import PERMISSION_ATTR
from kapstone.fhir import views as fhir_views
from kapstone.staff.actions import issue_api_token
from tests.unit.fsh import read_instance

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
# The LOINC answer codes of the PHQ and GAD scales and their points, as the data's README
# gives them: the expected totals below are added up from this, not by Kapstone's scoring.
LA_POINTS = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
PHQ9_LA = {points: code for code, points in LA_POINTS.items()}


@pytest.fixture(scope="module")
def data() -> Path:
    # A missing folder must fail loudly: a skipped vector looks exactly like a passing one.
    assert DATA.is_dir(), "public test data not found: check out shared/data beside the clone"
    return DATA


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def fhir_client(make_staff):
    """A client carrying a fresh API token for a new user in the given roles."""

    def make(*roles: Role) -> tuple[Client, object]:
        user = make_staff(*roles)
        token = issue_api_token(by=None, user=user, name="fhir", expires_at=None)
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}"), user

    return make


@pytest.fixture
def recorder(fhir_client):
    client, _user = fhir_client(Role.NURSE)
    return client


@pytest.fixture
def reader(fhir_client):
    client, _user = fhir_client(Role.THERAPIST)
    return client


def post(client: Client, resource, content_type: str = FHIR_JSON):
    body = resource if isinstance(resource, str | bytes) else json.dumps(resource)
    return client.post("/fhir/QuestionnaireResponse", body, content_type=content_type)


def phq9_response(patient, points: list[int | None], **changes) -> dict:
    """A PHQ-9 response against Kapstone's own Questionnaire, LOINC-coded as ours is."""
    items = [
        {"linkId": link_id, "answer": [{"valueCoding": {"system": LOINC, "code": PHQ9_LA[p]}}]}
        for link_id, p in zip(PHQ9_ITEMS, points, strict=True)
        if p is not None
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://kapstone.example/fhir/Questionnaire/phq9",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient.pk}"},
        "authored": "2026-01-05T09:30:00-05:00",
        "item": items,
        **changes,
    }


def for_patient(resource: dict, patient) -> dict:
    """A published response as a sender would post it: about one of the clinic's patients."""
    return {**resource, "subject": {"reference": f"Patient/{patient.pk}"}}


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def _rows() -> tuple[int, int]:
    return Assessment.objects.count(), RiskAlert.objects.count()


def assert_outcome(response, status: int) -> list[dict]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    OperationOutcome.model_validate(body)
    return body["issue"]


# --- Public examples, posted as published ----------------------------------------------------


def test_lhc_phq9_response_is_scored_from_its_items(data, patient, recorder):
    # Arrange: answers made on the LHC-Forms PHQ-9 as LHC-Forms keys them (/<LOINC> linkIds,
    # the answer codings as the form offers them), with its total and difficulty items.
    lforms = load(data / "questionnaires" / "lforms-R4-phq9.json")
    chosen = dict(zip(PHQ9_ITEMS, [1, 2, 0, 3, 1, 0, 2, 1, 0], strict=True))
    items, expected = [], 0
    for entry in lforms["item"]:
        code = entry["code"][0]["code"]
        if code in chosen:
            option = entry["answerOption"][chosen[code]]
            expected += next(
                ext["valueDecimal"] for ext in option["extension"] if "ordinalValue" in ext["url"]
            )
            items.append(
                {"linkId": entry["linkId"], "answer": [{"valueCoding": option["valueCoding"]}]}
            )
        elif entry["type"] == "decimal":  # the form's own total: wrong on purpose
            items.append({"linkId": entry["linkId"], "answer": [{"valueDecimal": 26}]})
        else:
            items.append(
                {
                    "linkId": entry["linkId"],
                    "answer": [{"valueCoding": entry["answerOption"][1]["valueCoding"]}],
                }
            )
    response_resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"http://loinc.org/q/{lforms['code'][0]['code']}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient.pk}"},
        "authored": "2026-02-01T10:00:00Z",
        "item": items,
    }

    # Act
    response = post(recorder, response_resource)

    # Assert
    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(public_id=response.json()["id"])
    assert expected == 10
    assert (assessment.instrument, assessment.total, assessment.source) == ("phq9", 10, "fhir")
    assert assessment.answered_at == timezone.datetime.fromisoformat("2026-02-01T10:00:00+00:00")


@pytest.mark.parametrize(("name", "instrument"), [("PHQ9", "phq9"), ("GAD7", "gad7")])
def test_hl7_phr_responses_are_scored_as_published(data, patient, recorder, name, instrument):
    # Arrange: the FSH compiles Canonical(<Questionnaire>) to the guide's canonical base and the
    # Questionnaire's id; the published subject is the guide's example patient, not ours.
    folder = data / "scoring-vectors"
    published = read_instance(
        folder / f"hl7-phr-QuestionnaireResponse-ScoredAssessment-{name}.fsh",
        "QuestionnaireResponse",
    )
    questionnaire = (folder / f"hl7-phr-Questionnaire-ScoredAssessment-{name}.fsh").read_text()
    (questionnaire_id,) = re.findall(r'^\* id = "([^"]+)"', questionnaire, re.MULTILINE)
    published["questionnaire"] = f"http://hl7.org/fhir/uv/phr/Questionnaire/{questionnaire_id}"
    expected = sum(LA_POINTS[i["answer"][0]["valueCoding"]["code"]] for i in published["item"])

    # Act
    response = post(recorder, for_patient(published, patient))

    # Assert
    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(public_id=response.json()["id"])
    assert (assessment.instrument, assessment.total, assessment.band_label) == (
        instrument,
        expected,
        "Minimal",
    )
    assert expected == 3


def test_mii_phq9_response_is_scored_as_published(data, patient, recorder):
    # Arrange: its items are PHQ.1..PHQ.9 (its own Questionnaire says PHQ-9.n), its
    # Questionnaire a relative reference; it carries a difficulty answer and a stored total.
    published = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    scored = [i for i in published["item"] if i["linkId"] in {f"PHQ.{n}" for n in range(1, 10)}]
    expected = sum(LA_POINTS[i["answer"][0]["valueCoding"]["code"]] for i in scored)

    # Act
    response = post(recorder, for_patient(published, patient))

    # Assert
    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(public_id=response.json()["id"])
    assert (assessment.total, expected) == (27, 27)
    assert assessment.answers == {f"q{n}": 3 for n in range(1, 10)}


def test_mii_phq9_with_its_total_altered_stores_the_recomputed_total(data, patient, recorder):
    # Arrange
    tampered = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    tampered["item"][-1]["answer"][0]["valueQuantity"]["value"] = 4

    # Act
    response = post(recorder, for_patient(tampered, patient))

    # Assert
    assert response.status_code == 201
    assert Assessment.objects.get(public_id=response.json()["id"]).total == 27


def test_mii_phq9_against_its_canonical_url_with_its_questionnaires_linkids(
    data, patient, recorder
):
    # Arrange
    questionnaire = load(data / "scoring-vectors" / "mii-pro-Questionnaire-mii-qst-pro-phq-9.json")
    response_resource = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    for item in response_resource["item"]:
        item["linkId"] = item["linkId"].replace("PHQ.", "PHQ-9.")
    response_resource["questionnaire"] = questionnaire["url"]

    # Act
    response = post(recorder, for_patient(response_resource, patient))

    # Assert
    assert response.status_code == 201, response.content
    assert Assessment.objects.get(public_id=response.json()["id"]).total == 27


# --- Create: what is stored and answered -----------------------------------------------------


def test_submitted_total_is_ignored(patient, recorder):
    # Arrange: items adding to 5, and a LOINC total item claiming 27.
    resource = phq9_response(patient, [1, 1, 1, 1, 1, 0, 0, 0, 0])
    resource["item"].append({"linkId": "44261-6", "answer": [{"valueInteger": 27}]})

    # Act
    response = post(recorder, resource)

    # Assert
    assert response.status_code == 201, response.content
    assert Assessment.objects.get(public_id=response.json()["id"]).total == 5


def test_create_answers_201_with_the_stored_response_and_its_location(patient, recorder, reader):
    # Arrange
    resource = phq9_response(patient, [0, 1, 2, 3, 0, 1, 2, 3, 0])

    # Act
    response = post(recorder, resource)

    # Assert
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    QuestionnaireResponse.model_validate(body)
    assessment = Assessment.objects.get()
    assert body["id"] == str(assessment.public_id)
    assert response["Location"].endswith(f"/fhir/QuestionnaireResponse/{assessment.public_id}")
    assert body["subject"] == {"reference": f"Patient/{patient.pk}"}
    assert body["questionnaire"] == "http://kapstone.example/fhir/Questionnaire/phq9|1"
    assert [(i["linkId"], i["answer"][0]["valueCoding"]["code"]) for i in body["item"]] == [
        (i["linkId"], i["answer"][0]["valueCoding"]["code"]) for i in resource["item"]
    ]
    assert "44261-6" not in json.dumps(body)  # the score is the Observation, not the response
    assert assessment.total == 12
    # Read back through the Location.
    again = reader.get(response["Location"])
    assert again.status_code == 200
    assert again.json() == body


def test_phq9_item_9_above_zero_raises_a_risk_alert(patient, recorder):
    # Act
    response = post(recorder, phq9_response(patient, [0, 0, 0, 0, 0, 0, 0, 0, 1]))

    # Assert
    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(public_id=response.json()["id"])
    (alert,) = RiskAlert.objects.filter(assessment=assessment)
    assert (alert.code, alert.patient_id, alert.status) == ("suicide_risk", patient.pk, "open")


def test_phq9_item_9_at_zero_raises_no_alert(patient, recorder):
    # Act
    response = post(recorder, phq9_response(patient, [3, 3, 3, 3, 3, 3, 3, 3, 0]))

    # Assert
    assert response.status_code == 201
    assert RiskAlert.objects.count() == 0


def test_unanswered_item_is_stored_without_a_total(patient, recorder, reader):
    # Act
    response = post(recorder, phq9_response(patient, [1, 1, 1, 1, 1, 1, 1, 1, None]))

    # Assert
    assert response.status_code == 201
    assessment = Assessment.objects.get()
    assert (assessment.total, assessment.complete) == (None, False)
    observation = reader.get(f"/fhir/Observation/{assessment.public_id}").json()
    Observation.model_validate(observation)
    assert "valueInteger" not in observation
    assert observation["dataAbsentReason"]["coding"][0]["code"] == "unknown"


def test_create_audits_once_as_the_action_does(patient, fhir_client):
    # Arrange
    client, user = fhir_client(Role.PRESCRIBER)
    before = _last_seq()

    # Act
    response = post(client, phq9_response(patient, [0, 0, 0, 0, 0, 0, 0, 0, 2]))

    # Assert
    assert response.status_code == 201
    (event,) = _events_since(before)
    assessment = Assessment.objects.get()
    assert (event.action, event.actor_id, event.patient_id, event.target_id) == (
        "assessment.create",
        user.pk,
        patient.pk,
        str(assessment.pk),
    )
    assert event.detail == {"instrument": "phq9", "source": "fhir", "alerts": ["suicide_risk"]}


def test_csrf_does_not_apply_to_token_calls(patient, make_staff):
    # Arrange
    token = issue_api_token(by=None, user=make_staff(Role.NURSE), name="t", expires_at=None)
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")

    # Act
    response = post(client, phq9_response(patient, [0] * 9))

    # Assert
    assert response.status_code == 201


def test_plain_application_json_is_accepted(patient, recorder):
    # Act
    response = post(recorder, phq9_response(patient, [0] * 9), content_type="application/json")

    # Assert
    assert response.status_code == 201


# --- Refusals: an OperationOutcome saying what is wrong, and nothing stored ------------------

SECRET = "Zebulon-4242"


def _bad(patient, **changes):
    return phq9_response(patient, [0, 1, 0, 1, 0, 1, 0, 1, 0], **changes)


def _with_item(patient, item):
    resource = _bad(patient)
    resource["item"].append(item)
    return resource


def _replace_item(patient, index, item):
    resource = _bad(patient)
    resource["item"][index] = item
    return resource


REFUSALS = [
    # (id, resource(patient) or raw body, content type, status, issue code, words, expression)
    (
        "unknown-linkid",
        lambda p: _with_item(p, {"linkId": "q99", "answer": [{"valueInteger": 1}]}),
        FHIR_JSON,
        422,
        "invalid",
        ("linkId 'q99'", "not an item of the PHQ-9"),
        "QuestionnaireResponse.repeat(item).where(linkId='q99')",
    ),
    (
        "out-of-range-integer",
        lambda p: _replace_item(p, 2, {"linkId": "44259-0", "answer": [{"valueInteger": 4}]}),
        FHIR_JSON,
        422,
        "value",
        ("PHQ-9 item q3 (44259-0)", "whole number from 0 to 3"),
        "QuestionnaireResponse.repeat(item).where(linkId='44259-0')",
    ),
    (
        "answer-code-of-another-question",
        lambda p: _replace_item(
            p,
            2,
            {
                "linkId": "44259-0",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA6572-7"}}],
            },
        ),
        FHIR_JSON,
        422,
        "value",
        ("PHQ-9 item q3 (44259-0)", "one of the instrument's options"),
        "QuestionnaireResponse.repeat(item).where(linkId='44259-0')",
    ),
    (
        "two-answers",
        lambda p: _replace_item(
            p, 0, {"linkId": "44250-9", "answer": [{"valueInteger": 1}, {"valueInteger": 2}]}
        ),
        FHIR_JSON,
        422,
        "value",
        ("takes a single answer",),
        "QuestionnaireResponse.repeat(item).where(linkId='44250-9')",
    ),
    (
        "missing-subject",
        lambda p: {k: v for k, v in _bad(p).items() if k != "subject"},
        FHIR_JSON,
        422,
        "required",
        ("subject: is required",),
        "QuestionnaireResponse.subject",
    ),
    (
        "subject-not-a-patient",
        lambda p: _bad(p, subject={"reference": f"Group/{SECRET}"}),
        FHIR_JSON,
        422,
        "value",
        ("Patient/<id>",),
        "QuestionnaireResponse.subject.reference",
    ),
    (
        "unknown-patient",
        lambda p: _bad(p, subject={"reference": f"Patient/{p.pk + 1000}"}),
        FHIR_JSON,
        404,
        "not-found",
        ("no patient of this clinic",),
        "QuestionnaireResponse.subject.reference",
    ),
    (
        "in-progress",
        lambda p: _bad(p, status="in-progress"),
        FHIR_JSON,
        422,
        "business-rule",
        ("status: must be completed or amended",),
        "QuestionnaireResponse.status",
    ),
    (
        "no-authored",
        lambda p: {k: v for k, v in _bad(p).items() if k != "authored"},
        FHIR_JSON,
        422,
        "required",
        ("authored: is required",),
        "QuestionnaireResponse.authored",
    ),
    (
        "authored-date-only",
        lambda p: _bad(p, authored="2026-01-05"),
        FHIR_JSON,
        422,
        "value",
        ("time zone",),
        "QuestionnaireResponse.authored",
    ),
    (
        "authored-in-the-future",
        lambda p: _bad(
            p, authored=(timezone.now() + timedelta(days=2)).isoformat(timespec="seconds")
        ),
        FHIR_JSON,
        422,
        "value",
        ("authored: cannot be in the future",),
        "QuestionnaireResponse.authored",
    ),
    (
        "unknown-questionnaire",
        lambda p: _bad(p, questionnaire=f"http://example.org/Questionnaire/{SECRET}"),
        FHIR_JSON,
        422,
        "not-supported",
        ("not a Questionnaire this server reads",),
        "QuestionnaireResponse.questionnaire",
    ),
    (
        "wrong-resource-type",
        lambda p: {**_bad(p), "resourceType": "Observation"},
        FHIR_JSON,
        400,
        "invalid",
        ("resourceType: must be QuestionnaireResponse",),
        "resourceType",
    ),
    (
        "items-not-a-list",
        lambda p: _bad(p, item={"linkId": "44250-9"}),
        FHIR_JSON,
        400,
        "structure",
        ("must be a JSON array",),
        "QuestionnaireResponse.item",
    ),
    (
        "malformed-json",
        lambda p: '{"resourceType": "QuestionnaireResponse", "status": "' + SECRET,
        FHIR_JSON,
        400,
        "structure",
        ("not valid JSON",),
        None,
    ),
    (
        "json-array",
        lambda p: json.dumps([_bad(p)]),
        FHIR_JSON,
        400,
        "structure",
        ("must be a JSON object",),
        None,
    ),
    (
        "not-utf8",
        lambda p: json.dumps(_bad(p)).encode("utf-16"),
        FHIR_JSON,
        400,
        "structure",
        ("not valid JSON",),
        None,
    ),
    (
        "xml",
        lambda p: f"<QuestionnaireResponse><id value='{SECRET}'/></QuestionnaireResponse>",
        "application/fhir+xml",
        415,
        "not-supported",
        ("application/fhir+json",),
        None,
    ),
    (
        "text-plain",
        lambda p: json.dumps(_bad(p)),
        "text/plain",
        415,
        "not-supported",
        ("application/fhir+json",),
        None,
    ),
]


@pytest.mark.parametrize(
    ("make", "content_type", "status", "code", "words", "expression"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_invalid_response_is_refused_and_nothing_is_stored(
    make, content_type, status, code, words, expression, patient, recorder
):
    # Arrange: each carries a value that must not come back (a name-like string, or answers).
    body = make(patient)
    rows_before = _rows()
    before = _last_seq()

    # Act
    response = post(recorder, body, content_type=content_type)

    # Assert
    issues = assert_outcome(response, status)
    assert code in [issue["code"] for issue in issues]
    text = " ".join(issue["diagnostics"] for issue in issues)
    for word in words:
        assert word in text
    if expression:
        assert expression in [e for issue in issues for e in issue.get("expression", [])]
    assert SECRET not in response.content.decode()
    assert _rows() == rows_before
    assert _events_since(before) == []


def test_every_problem_is_reported_at_once(patient, recorder):
    # Arrange
    resource = _bad(patient, status="in-progress", authored="yesterday")
    del resource["subject"]
    resource["item"].append({"linkId": "nonsense", "answer": [{"valueInteger": 1}]})

    # Act
    response = post(recorder, resource)

    # Assert
    issues = assert_outcome(response, 422)
    assert {issue["expression"][0].split(".")[1].split("(")[0] for issue in issues} == {
        "status",
        "subject",
        "authored",
        "repeat",
    }
    assert Assessment.objects.count() == 0


def test_refused_answer_does_not_echo_the_codes_sent(patient, recorder):
    # Arrange
    resource = _replace_item(
        patient,
        0,
        {"linkId": "44250-9", "answer": [{"valueCoding": {"system": "urn:x", "code": SECRET}}]},
    )

    # Act
    response = post(recorder, resource)

    # Assert
    assert_outcome(response, 422)
    assert SECRET not in response.content.decode()


def test_answer_before_the_patients_birth_is_refused(patient, recorder):
    # Act
    response = post(recorder, _bad(patient, authored="1970-01-01T00:00:00Z"))

    # Assert
    issues = assert_outcome(response, 422)
    assert issues[0]["diagnostics"] == ("authored: cannot be before the patient's date of birth")
    assert Assessment.objects.count() == 0


def test_oversized_body_is_refused(patient, recorder, settings):
    # Arrange
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    resource = _bad(patient, text={"status": "generated", "div": "x" * 2000})

    # Act
    response = post(recorder, resource)

    # Assert
    assert_outcome(response, 413)
    assert Assessment.objects.count() == 0


def test_wrong_method_and_media_type_are_refused(recorder):
    # Act
    listing = recorder.get("/fhir/QuestionnaireResponse")
    xml = recorder.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+xml")
    xml_format = recorder.get("/fhir/metadata", {"_format": "xml"})
    either = recorder.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+xml, */*;q=0.1")

    # Assert
    assert_outcome(listing, 405)
    assert listing["Allow"] == "POST"
    assert_outcome(xml, 406)
    assert_outcome(xml_format, 406)
    assert either.status_code == 200


# --- Observations ----------------------------------------------------------------------------


def _gad7_response(patient, points: list[int], authored: str) -> dict:
    gad7 = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://kapstone.example/fhir/Questionnaire/gad7",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient.pk}"},
        "authored": authored,
        "item": [
            {"linkId": link_id, "answer": [{"valueInteger": p}]}
            for link_id, p in zip(gad7, points, strict=True)
        ],
    }


@pytest.fixture
def course(patient, make_patient, recorder):
    """GAD-7 scores sent out of order (16, then 12, 5, 9 by date) and a PHQ-9, for the patient;
    one GAD-7 for another patient."""
    sent = [
        ([2, 2, 2, 2, 2, 2, 0], "2026-03-01T09:00:00Z"),
        ([3, 3, 3, 3, 2, 2, 0], "2026-01-01T09:00:00Z"),
        ([1, 1, 1, 1, 1, 0, 0], "2026-02-01T09:00:00Z"),
        ([1, 1, 1, 1, 1, 1, 3], "2026-04-01T09:00:00Z"),
    ]
    for points, authored in sent:
        assert post(recorder, _gad7_response(patient, points, authored)).status_code == 201
    assert post(recorder, phq9_response(patient, [1] * 9)).status_code == 201
    other = make_patient(first_name="Other", last_name="Person")
    other_response = _gad7_response(other, [3] * 7, "2026-01-15T09:00:00Z")
    assert post(recorder, other_response).status_code == 201
    return patient


@pytest.mark.parametrize(
    "code", ["http://loinc.org|70274-6", "70274-6", "http://loinc.org|70274-6,http://loinc.org|1-8"]
)
def test_observation_search_returns_scores_oldest_first(course, reader, code):
    # Act
    response = reader.get("/fhir/Observation", {"subject": f"Patient/{course.pk}", "code": code})

    # Assert
    assert response.status_code == 200
    assert response["Content-Type"].startswith(FHIR_JSON)
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert (bundle["type"], bundle["total"]) == ("searchset", 4)
    observations = [entry["resource"] for entry in bundle["entry"]]
    assert [o["valueInteger"] for o in observations] == [16, 5, 12, 9]
    assert [o["effectiveDateTime"][:10] for o in observations] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    for observation, entry in zip(observations, bundle["entry"], strict=True):
        Observation.model_validate(observation)
        assert observation["status"] == "final"
        assert observation["code"]["coding"][0] == {
            "system": LOINC,
            "code": "70274-6",
            "display": "GAD-7 total",
        }
        assert observation["subject"] == {"reference": f"Patient/{course.pk}"}
        assert observation["derivedFrom"] == [
            {"reference": f"QuestionnaireResponse/{observation['id']}"}
        ]
        assert entry["fullUrl"].endswith(f"/fhir/Observation/{observation['id']}")
    assert [o["interpretation"][0]["text"] for o in observations] == [
        "Severe",
        "Mild",
        "Moderate",
        "Mild",
    ]


def test_observation_search_without_code_gives_every_instrument(course, reader):
    # Act
    bundle = reader.get("/fhir/Observation", {"subject": f"Patient/{course.pk}"}).json()

    # Assert
    codes = [entry["resource"]["code"]["coding"][0]["code"] for entry in bundle["entry"]]
    assert sorted(codes) == ["44261-6", "70274-6", "70274-6", "70274-6", "70274-6"]


@pytest.mark.parametrize(
    "code", ["http://snomed.info/sct|70274-6", "|70274-6", "http://loinc.org|44249-1"]
)
def test_observation_search_with_another_code_finds_nothing(course, reader, code):
    # Act
    bundle = reader.get("/fhir/Observation", {"subject": f"Patient/{course.pk}", "code": code})

    # Assert
    assert bundle.status_code == 200
    assert (bundle.json()["total"], bundle.json()["entry"]) == (0, [])


def test_observation_search_accepts_a_bare_patient_id(course, reader):
    # Act
    bundle = reader.get("/fhir/Observation", {"patient": str(course.pk)}).json()

    # Assert
    assert bundle["total"] == 5


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({}, 400, "subject: is required"),
        ({"code": "http://loinc.org|70274-6"}, 400, "subject: is required"),
        ({"subject": "Group/1"}, 400, "subject: must be Patient/<id>"),
        ({"subject": "Patient/abc"}, 400, "subject: must be Patient/<id>"),
        ({"subject": ["Patient/1", "Patient/2"]}, 400, "subject: takes one patient"),
        ({"subject": "Patient/999999"}, 404, "no patient of this clinic"),
    ],
    ids=["nothing", "code-only", "group", "not-a-number", "two", "unknown-patient"],
)
def test_observation_search_needs_one_known_subject(query, status, words, reader, clinic):
    # Arrange
    before = _last_seq()

    # Act
    response = reader.get("/fhir/Observation", query)

    # Assert
    issues = assert_outcome(response, status)
    assert words in issues[0]["diagnostics"]
    assert _events_since(before) == []


def test_observation_search_audits_one_read_naming_the_patient(course, fhir_client):
    # Arrange
    client, user = fhir_client(Role.PRESCRIBER)
    before = _last_seq()

    # Act
    client.get("/fhir/Observation", {"subject": f"Patient/{course.pk}", "code": "70274-6"})

    # Assert
    (event,) = _events_since(before)
    assert (event.action, event.actor_id, event.patient_id) == ("fhir.search", user.pk, course.pk)
    assert event.detail == {"resource": "Observation", "code": True, "results": 4}


@pytest.mark.parametrize("resource_type", ["Observation", "QuestionnaireResponse"])
def test_read_by_id_audits_the_read(resource_type, patient, recorder, fhir_client):
    # Arrange
    created = post(recorder, phq9_response(patient, [2] * 9)).json()
    client, user = fhir_client(Role.NURSE)
    before = _last_seq()

    # Act
    response = client.get(f"/fhir/{resource_type}/{created['id']}")

    # Assert
    assert response.status_code == 200
    body = response.json()
    assert (body["resourceType"], body["id"]) == (resource_type, created["id"])
    assessment = Assessment.objects.get(public_id=created["id"])
    (event,) = _events_since(before)
    assert (event.action, event.actor_id, event.patient_id, event.target_id) == (
        "fhir.read",
        user.pk,
        patient.pk,
        str(assessment.pk),
    )
    assert event.detail == {"resource": resource_type, "instrument": "phq9"}


def test_observation_by_id_carries_the_recomputed_score(patient, recorder, reader):
    # Arrange
    resource = phq9_response(patient, [3, 3, 3, 3, 3, 3, 3, 3, 3])
    resource["item"].append({"linkId": "44261-6", "answer": [{"valueInteger": 0}]})
    created = post(recorder, resource).json()

    # Act
    observation = reader.get(f"/fhir/Observation/{created['id']}").json()

    # Assert
    Observation.model_validate(observation)
    assert observation["valueInteger"] == 27
    assert observation["interpretation"][0]["coding"][0]["code"] == "severe"
    assert observation["effectiveDateTime"].startswith("2026-01-05T14:30:00")
    assert observation["category"][0]["coding"][0]["code"] == "survey"


def test_clinician_entered_scores_are_observations_too(patient, clinician, reader):
    # Arrange
    from kapstone.assessments.actions import record_assessment

    record_assessment(
        by=clinician,
        patient=patient,
        instrument="hama",
        answers={f"q{n}": 1 for n in range(1, 15)},
    )

    # Act
    bundle = reader.get("/fhir/Observation", {"subject": f"Patient/{patient.pk}"}).json()

    # Assert
    (entry,) = bundle["entry"]
    assert entry["resource"]["valueInteger"] == 14
    assert entry["resource"]["code"]["coding"][0] == {
        "system": "http://kapstone.example/fhir/CodeSystem/scores",
        "code": "hama",
        "display": "HAM-A total",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Observation/00000000-0000-4000-8000-000000000000",
        "/fhir/Observation/not-an-id",
        "/fhir/QuestionnaireResponse/00000000-0000-4000-8000-000000000000",
        "/fhir/Questionnaire/nope",
    ],
)
def test_unknown_ids_are_not_found(path, reader, recorder, clinic):
    # Act
    client = recorder if "/Questionnaire/" in path else reader
    response = client.get(path)

    # Assert
    assert_outcome(response, 404)


# --- Questionnaires and the CapabilityStatement ----------------------------------------------


def test_questionnaire_search_lists_every_instrument(recorder):
    # Act
    response = recorder.get("/fhir/Questionnaire")

    # Assert
    bundle = response.json()
    Bundle.model_validate(bundle)
    ids = [entry["resource"]["id"] for entry in bundle["entry"]]
    assert "phq9" in ids and "gad7" in ids and "cssrs-screener" in ids
    assert bundle["total"] == len(ids) == 11
    for entry in bundle["entry"]:
        Questionnaire.model_validate(entry["resource"])


def test_questionnaire_search_by_url(recorder):
    # Act
    bundle = recorder.get(
        "/fhir/Questionnaire", {"url": "http://kapstone.example/fhir/Questionnaire/gad7|1"}
    ).json()

    # Assert
    assert [entry["resource"]["id"] for entry in bundle["entry"]] == ["gad7"]


def test_licensed_questionnaire_carries_labels_not_wording(recorder):
    # Act
    questionnaire = recorder.get("/fhir/Questionnaire/spin").json()

    # Assert
    assert questionnaire["item"][0]["text"] == "Item 1"
    assert "description" not in questionnaire


def test_capability_statement_describes_the_endpoints(recorder):
    # Act
    response = recorder.get("/fhir/metadata")

    # Assert
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    interactions = {
        r["type"]: sorted(i["code"] for i in r["interaction"])
        for r in statement["rest"][0]["resource"]
    }
    assert interactions == {
        "Questionnaire": ["read", "search-type"],
        "QuestionnaireResponse": ["create", "read"],
        "Observation": ["read", "search-type"],
    }


# --- Who may call what -----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    url_name: str
    method: str
    permission: P
    status: int
    # The audit action a successful call leaves naming the patient; None: no patient data.
    audit: str | None

    def call(self, client: Client, patient, assessment):
        if self.url_name == "questionnaire_response_create":
            return post(client, phq9_response(patient, [1] * 9))
        kwargs = {}
        query = {}
        if self.url_name == "questionnaire_read":
            kwargs = {"resource_id": "phq9"}
        elif self.url_name in ("questionnaire_response_read", "observation_read"):
            kwargs = {"resource_id": str(assessment.public_id)}
        elif self.url_name == "observation_search":
            query = {"subject": f"Patient/{patient.pk}", "code": "http://loinc.org|44261-6"}
        return client.get(reverse(f"fhir:{self.url_name}", kwargs=kwargs), query)


ENDPOINTS = [
    Endpoint("metadata", "get", P.ASSESSMENT_RECORD, 200, None),
    Endpoint("questionnaire_search", "get", P.ASSESSMENT_RECORD, 200, None),
    Endpoint("questionnaire_read", "get", P.ASSESSMENT_RECORD, 200, None),
    Endpoint(
        "questionnaire_response_create", "post", P.ASSESSMENT_RECORD, 201, "assessment.create"
    ),
    Endpoint("questionnaire_response_read", "get", P.PATIENT_VIEW_CLINICAL, 200, "fhir.read"),
    Endpoint("observation_search", "get", P.PATIENT_VIEW_CLINICAL, 200, "fhir.search"),
    Endpoint("observation_read", "get", P.PATIENT_VIEW_CLINICAL, 200, "fhir.read"),
]


def _fhir_patterns() -> list[URLPattern]:
    return list(fhir_views.urlpatterns)


def test_endpoint_table_covers_every_fhir_url():
    # Act
    routed = {pattern.name for pattern in _fhir_patterns()}

    # Assert
    assert routed == {endpoint.url_name for endpoint in ENDPOINTS}
    assert len(ENDPOINTS) == len(routed)


@pytest.mark.parametrize("pattern", _fhir_patterns(), ids=lambda p: p.name)
def test_every_fhir_view_declares_its_permission_and_skips_csrf(pattern):
    # Arrange
    endpoint = next(e for e in ENDPOINTS if e.url_name == pattern.name)

    # Assert
    assert getattr(pattern.callback, PERMISSION_ATTR) == endpoint.permission
    assert getattr(pattern.callback, "csrf_exempt", False) is True


@pytest.fixture
def stored(patient, recorder):
    response = post(recorder, phq9_response(patient, [0] * 9))
    assert response.status_code == 201
    return Assessment.objects.get(public_id=response.json()["id"])


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.url_name)
def test_fhir_access_follows_role_map(endpoint, role, patient, stored, fhir_client):
    # Arrange
    client, user = fhir_client(role)
    rows_before = _rows()
    before = _last_seq()

    # Act
    response = endpoint.call(client, patient, stored)

    # Assert
    events = _events_since(before)
    assert response["Content-Type"].startswith(FHIR_JSON)
    if role in roles_with(endpoint.permission):
        assert response.status_code == endpoint.status, response.content
        expected = [(endpoint.audit, user.pk, patient.pk)] if endpoint.audit else []
        assert [(e.action, e.actor_id, e.patient_id) for e in events] == expected
    else:
        issues = assert_outcome(response, 403)
        assert issues[0]["code"] == "forbidden"
        assert issues[0]["diagnostics"] == f"this needs the permission '{endpoint.permission}'"
        (event,) = events
        assert (event.action, event.actor_id, event.patient_id) == ("access.denied", user.pk, None)
        assert event.detail["permission"] == str(endpoint.permission)
        assert _rows() == rows_before


# Written out by hand, so that a wrong role map cannot pass by agreeing with itself.
@pytest.mark.parametrize(
    ("role", "url_name", "status"),
    [
        (Role.NURSE, "questionnaire_response_create", 201),
        (Role.THERAPIST, "questionnaire_response_create", 201),
        (Role.PRESCRIBER, "observation_search", 200),
        (Role.FRONT_DESK, "questionnaire_response_create", 403),
        (Role.FRONT_DESK, "observation_search", 403),
        (Role.BILLING, "observation_read", 403),
        (Role.RESEARCHER, "questionnaire_search", 403),
        (Role.CLINIC_ADMIN, "observation_search", 403),
        (Role.CLINIC_ADMIN, "metadata", 403),
    ],
)
def test_fhir_policy_critical_facts(role, url_name, status, patient, stored, fhir_client):
    # Arrange
    client, _ = fhir_client(role)
    endpoint = next(e for e in ENDPOINTS if e.url_name == url_name)

    # Act
    response = endpoint.call(client, patient, stored)

    # Assert
    assert response.status_code == status


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer garbage", "Bearer kap_deadbeef_notthesecret", "Basic dXNlcjpwYXNz"],
    ids=["no-header", "empty", "malformed", "unknown", "wrong-scheme"],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.url_name)
def test_fhir_without_a_valid_token_is_unauthorised(endpoint, authorization, patient, stored):
    # Arrange
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()
    rows_before = _rows()
    before = _last_seq()

    # Act
    response = endpoint.call(client, patient, stored)

    # Assert
    issues = assert_outcome(response, 401)
    assert issues[0]["code"] == "login"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _rows() == rows_before
    assert _events_since(before) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.url_name)
def test_a_signed_in_browser_session_is_not_a_token(endpoint, patient, stored, client_for):
    # Arrange: the deny-by-default middleware must not send a FHIR client to the login page,
    # and a session cookie opens nothing here.
    client = client_for(Role.PRESCRIBER)

    # Act
    response = endpoint.call(client, patient, stored)

    # Assert
    assert_outcome(response, 401)


def test_token_of_a_deactivated_user_is_unauthorised(patient, stored, fhir_client):
    # Arrange
    client, user = fhir_client(Role.PRESCRIBER)
    user.is_active = False
    user.save(update_fields=["is_active"])

    # Act
    response = client.get(f"/fhir/Observation/{stored.public_id}")

    # Assert
    assert_outcome(response, 401)


def test_an_instrument_that_needs_more_than_its_items_is_refused_saying_so(patient, recorder):
    # Arrange: the PDSS bands depend on whether the patient has agoraphobia, which a
    # QuestionnaireResponse does not carry.
    resource = {
        **_bad(patient),
        "questionnaire": "http://kapstone.example/fhir/Questionnaire/pdss",
        "item": [{"linkId": f"q{n}", "answer": [{"valueInteger": 1}]} for n in range(1, 8)],
    }

    # Act
    response = post(recorder, resource)

    # Assert
    (issue,) = assert_outcome(response, 422)
    assert issue["code"] == "business-rule"
    assert issue["diagnostics"].startswith("agoraphobia: must be given")
    assert Assessment.objects.count() == 0
