"""Reading an incoming QuestionnaireResponse and building the resources the FHIR endpoints
hand out: tables of inputs and outcomes, and a round trip as a Hypothesis property."""

import ast
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import given
from hypothesis import strategies as st

import kapstone
from kapstone.clinical import instruments
from kapstone.fhir import intake, resources
from kapstone.fhir.intake import Issue, Refused, known_questionnaire, read_response

SRC = Path(kapstone.__file__).parent
LOINC = "http://loinc.org"


@pytest.mark.parametrize("name", ["intake.py", "resources.py"])
def test_reading_and_building_are_plain_python(name):
    tree = ast.parse((SRC / "fhir" / name).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not isinstance(node, ast.ImportFrom) or node.module
    }
    assert not {m for m in imported if m.split(".")[0] in {"django", "ninja"}}
    assert {m for m in imported if m.startswith("kapstone.")} <= {
        "kapstone.clinical",
        "kapstone.clinical.fhir_questionnaires",
        "kapstone.errors",
    }


@pytest.mark.parametrize(
    ("canonical", "instrument"),
    [
        ("http://kapstone.example/fhir/Questionnaire/phq9", "phq9"),
        ("http://kapstone.example/fhir/Questionnaire/phq9|1", "phq9"),
        ("http://kapstone.example/fhir/Questionnaire/cssrs_screener", "cssrs_screener"),
        ("Questionnaire/cssrs-screener", "cssrs_screener"),
        ("http://loinc.org/q/44249-1", "phq9"),
        ("http://loinc.org/q/69737-5", "gad7"),
        ("http://hl7.org/fhir/uv/phr/Questionnaire/gad7", "gad7"),
        (
            (
                "https://www.medizininformatik-initiative.de/fhir/ext/modul-pro/Questionnaire/"
                "mii-qst-pro-phq-9"
            ),
            "phq9",
        ),
        ("Questionnaire/mii-qst-pro-phq-9", "phq9"),
        ("http://kapstone.example/fhir/Questionnaire/nope", None),
        ("http://loinc.org/q/44261-6", None),  # the total, not a panel
        ("http://loinc.org/q/", None),
        ("Questionnaire/phq-9-questionnaire", None),
        ("", None),
    ],
)
def test_known_questionnaires(canonical, instrument):
    known = known_questionnaire(canonical)
    assert (known.instrument if known else None) == instrument


def response(**changes) -> dict:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://kapstone.example/fhir/Questionnaire/gad7",
        "status": "completed",
        "subject": {"reference": "Patient/7"},
        "authored": "2026-01-05T09:30:00.1234567-05:00",
        "item": [{"linkId": f"q{n}", "answer": [{"valueInteger": 1}]} for n in range(1, 8)],
        **changes,
    }


def test_a_valid_response_is_read():
    submission = read_response(response(status="amended"))
    assert submission.instrument == "gad7"
    assert submission.patient_id == 7
    assert submission.authored == datetime(2026, 1, 5, 14, 30, 0, 123456, tzinfo=UTC)
    assert submission.answers == {f"q{n}": 1 for n in range(1, 8)}
    assert submission.link_ids == {f"q{n}": f"q{n}" for n in range(1, 8)}


@pytest.mark.parametrize(
    ("resource", "status", "expected"),
    [
        ([], 400, Issue("structure", "the body must be a JSON object")),
        (
            response(resourceType="Patient"),
            400,
            Issue("invalid", "resourceType: must be QuestionnaireResponse", "resourceType"),
        ),
        (
            response(item=[{"answer": []}]),
            400,
            Issue(
                "required",
                "QuestionnaireResponse.item[0].linkId: is required",
                "QuestionnaireResponse.item[0]",
            ),
        ),
        (
            response(item=[{"linkId": "g", "item": [{"linkId": "q1", "answer": {}}]}]),
            400,
            Issue(
                "structure",
                "QuestionnaireResponse.item[0].item[0].answer: must be a JSON array",
                "QuestionnaireResponse.item[0].item[0].answer",
            ),
        ),
        (
            response(status="in-progress"),
            422,
            Issue(
                "business-rule",
                "status: must be completed or amended; answers still in progress are not scored",
                "QuestionnaireResponse.status",
            ),
        ),
        (
            response(subject={"reference": "Patient/007"}),
            422,
            Issue(
                "value",
                "subject: must reference a patient of this clinic as Patient/<id>",
                "QuestionnaireResponse.subject.reference",
            ),
        ),
        (
            response(subject="Patient/7"),
            422,
            Issue(
                "value",
                "subject: must reference a patient of this clinic as Patient/<id>",
                "QuestionnaireResponse.subject.reference",
            ),
        ),
        (
            response(authored="2026-01-05T09:30:00"),
            422,
            Issue(
                "value",
                "authored: must be a date and time with a time zone",
                "QuestionnaireResponse.authored",
            ),
        ),
        (
            response(authored="2026-02-30T09:30:00Z"),
            422,
            Issue(
                "value",
                "authored: is not a valid date and time",
                "QuestionnaireResponse.authored",
            ),
        ),
        (
            response(questionnaire=None),
            422,
            Issue(
                "required",
                "questionnaire: is required, to know which instrument",
                "QuestionnaireResponse.questionnaire",
            ),
        ),
        (
            response(item=[{"linkId": "q1", "answer": [{"valueInteger": 9}]}]),
            422,
            Issue(
                "value",
                "GAD-7 item q1 (q1): must be a whole number from 0 to 3",
                "QuestionnaireResponse.repeat(item).where(linkId='q1')",
            ),
        ),
        (
            response(item=[{"linkId": "it's", "answer": [{"valueInteger": 1}]}]),
            422,
            Issue(
                "invalid",
                "linkId 'it\\'s': is not an item of the GAD-7 Questionnaire named",
                "QuestionnaireResponse.repeat(item).where(linkId='it\\'s')",
            ),
        ),
    ],
    ids=[
        "not-an-object",
        "resource-type",
        "no-linkid",
        "nested-answer-not-a-list",
        "status",
        "leading-zero-id",
        "subject-not-a-reference",
        "no-time-zone",
        "impossible-date",
        "no-questionnaire",
        "out-of-range",
        "unknown-linkid-quoted",
    ],
)
def test_refusals(resource, status, expected):
    with pytest.raises(Refused) as refused:
        read_response(resource)
    assert refused.value.status == status
    assert refused.value.issues == [expected]
    OperationOutcome.model_validate(resources.operation_outcome(refused.value.issues))


def test_long_linkid_is_cut_short_in_the_error():
    with pytest.raises(Refused) as refused:
        read_response(response(item=[{"linkId": "x" * 500, "answer": [{"valueInteger": 1}]}]))
    (issue,) = refused.value.issues
    assert "x" * 64 + "..." in issue.diagnostics
    assert "x" * 65 not in issue.diagnostics


def test_unanswered_groups_and_display_items_are_not_errors():
    resource = response(
        item=[
            {"linkId": "intro"},
            {"linkId": "group", "item": [{"linkId": "q1", "answer": [{"valueInteger": 2}]}]},
        ]
    )
    assert read_response(resource).answers["q1"] == 2


@pytest.mark.parametrize(
    ("token", "found"),
    [
        ("http://loinc.org|70274-6", {"gad7"}),
        ("70274-6", {"gad7"}),
        ("|70274-6", set()),
        ("http://loinc.org|44261-6,http://loinc.org|70274-6", {"gad7", "phq9"}),
        ("http://kapstone.example/fhir/CodeSystem/scores|hama", {"hama"}),
        ("hama", {"hama"}),
        ("http://loinc.org|hama", set()),
        ("http://loinc.org|44249-1", set()),
    ],
)
def test_observation_code_search(token, found):
    assert resources.instruments_for_code(token) == found


def stored(instrument: str, answers: dict, **fields):
    result = instruments.score(instrument, answers)
    values = {
        "public_id": uuid.UUID(int=1),
        "patient_id": 7,
        "instrument": instrument,
        "definition_version": result.version,
        "answers": answers,
        "answered_at": datetime(2026, 1, 5, 14, 30, tzinfo=UTC),
        "recorded_at": datetime(2026, 1, 5, 14, 31, tzinfo=UTC),
        "total": result.total,
        "band_code": result.band.id if result.band else "",
        "band_label": result.band.label if result.band else "",
        "extra": dict(result.extra),
    }
    values.update(fields)
    return SimpleNamespace(**values)


def test_observation_of_a_risk_level_instrument():
    answers = {"q1": True, "q2": True, "q3": False, "q4": False, "q5": False, "q6": False}
    observation = resources.observation(stored("cssrs_screener", answers))
    Observation.model_validate(observation)
    assert "valueInteger" not in observation
    concept = observation["valueCodeableConcept"]["coding"][0]
    assert concept["system"] == resources.risk_level_system("cssrs_screener")
    assert concept["code"]


@given(
    answers=st.lists(st.integers(min_value=0, max_value=3) | st.none(), min_size=9, max_size=9),
    instrument=st.sampled_from(["phq9", "gad7", "pcl5", "auditc"]),
)
def test_stored_response_reads_back_to_the_same_answers(answers, instrument):
    inst = instruments.get(instrument)
    given_answers = {
        item.id: (answer if answer is None else min(max(answer, item.min), item.max))
        for item, answer in zip(inst.items, answers * 3, strict=False)
    }
    out = resources.questionnaire_response(stored(instrument, given_answers))
    submission = read_response({**out, "questionnaire": out["questionnaire"]})
    assert submission.answers == given_answers
    assert submission.patient_id == 7
    assert intake.known_questionnaire(out["questionnaire"]).instrument == instrument
