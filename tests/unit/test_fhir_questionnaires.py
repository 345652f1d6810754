"""FHIR Questionnaires out and QuestionnaireResponses in, checked against public data that other
systems publish (``shared/data`` beside the repository, used as it is)."""

import copy
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from kapstone.clinical import instruments
from kapstone.clinical.fhir_questionnaires import (
    LOINC,
    ORDINAL_VALUE,
    answer_system,
    answers_from_response,
    questionnaire_for,
)
from kapstone.errors import InvalidInput

from .fsh import read_instance

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def data() -> Path:
    # A missing folder must fail loudly: a skipped vector looks exactly like a passing one.
    assert DATA.is_dir(), (
        f"public test data not found at {DATA}: check out the shared data beside the repository "
        "(shared/data next to the clone)"
    )
    return DATA


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def loinc_items(questionnaire: dict) -> dict[str, dict]:
    return {
        code["code"]: item
        for item in questionnaire["item"]
        for code in item.get("code", [])
        if code.get("system") == LOINC
    }


# --- Questionnaire out -----------------------------------------------------------------------


@pytest.mark.parametrize("instrument_id", ["gad7", "phq9"])
def test_questionnaire_validates_and_round_trips(instrument_id):
    inst = instruments.get(instrument_id)
    resource = questionnaire_for(inst)
    again = json.loads(json.dumps(resource))
    assert again == resource
    model = Questionnaire.model_validate(again)
    assert json.loads(model.model_dump_json(exclude_none=True))["item"] == resource["item"]
    assert resource["url"] == f"http://kapstone.example/fhir/Questionnaire/{instrument_id}"
    assert resource["status"] == "active"
    assert resource["code"] == [{"system": LOINC, "code": inst.loinc_panel}]
    assert [item["linkId"] for item in resource["item"]] == [item.loinc for item in inst.items]
    for item, entry in zip(inst.items, resource["item"], strict=True):
        assert entry["type"] == "choice"
        assert entry["text"] == item.text  # public-domain wording may ship
        codes = [(o["valueCoding"]["code"], o["extension"][0]) for o in entry["answerOption"]]
        assert codes == [
            (option.loinc, {"url": ORDINAL_VALUE, "valueDecimal": option.value})
            for option in item.options
        ]


def test_every_instrument_builds_a_valid_questionnaire():
    for inst in instruments.all_instruments():
        resource = questionnaire_for(inst)
        Questionnaire.model_validate(json.loads(json.dumps(resource)))
        shipped = inst.licence.text_may_ship
        for item, entry in zip(inst.items, resource["item"], strict=True):
            assert entry["text"] == (item.text if shipped and item.text else item.label)
            for option in entry["answerOption"]:
                coding = option["valueCoding"]
                if coding["system"] != LOINC:
                    assert coding["system"] == answer_system(inst)
                    assert coding["code"] == str(option["extension"][0]["valueDecimal"])


def test_our_questionnaire_reads_back_what_it_offers():
    inst = instruments.get("phq9")
    resource = questionnaire_for(inst)
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [
            {
                "linkId": entry["linkId"],
                "answer": [{"valueCoding": entry["answerOption"][2]["valueCoding"]}],
            }
            for entry in resource["item"]
        ],
    }
    answers = answers_from_response(inst, response, questionnaire=resource)
    assert instruments.score(inst, answers).total == 18


# --- Public vectors --------------------------------------------------------------------------


def test_lforms_phq9_codes_match_our_definition(data):
    lforms = load(data / "questionnaires" / "lforms-R4-phq9.json")
    inst = instruments.get("phq9")
    assert {"system": LOINC, "code": inst.loinc_panel} in [
        {"system": c["system"], "code": c["code"]} for c in lforms["code"]
    ]
    theirs = loinc_items(lforms)
    for item in inst.items:
        entry = theirs[item.loinc]
        assert entry["linkId"].strip("/") == item.loinc
        offered = {
            option["valueCoding"]["code"]: next(
                ext["valueDecimal"] for ext in option["extension"] if ext["url"] == ORDINAL_VALUE
            )
            for option in entry["answerOption"]
        }
        assert offered == {option.loinc: option.value for option in item.options}
    # Their total and difficulty items exist, and are not ours to read.
    assert inst.loinc_total in theirs and "69722-7" in theirs


def test_mii_phq9_response_scores_27_with_the_total_recomputed(data):
    response = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    # The response keys its items PHQ.1..PHQ.9, but its own Questionnaire says PHQ-9.1..PHQ-9.9:
    # neither our ids nor LOINC codes, so the receiving clinic has to say what they mean.
    link_ids = {f"PHQ.{n}": f"q{n}" for n in range(1, 10)}
    answers = answers_from_response("phq9", response, link_ids=link_ids)
    assert answers == {f"q{n}": 3 for n in range(1, 10)}
    assert instruments.score("phq9", answers).total == 27

    # The same response with its stored total altered: the total is never read.
    tampered = copy.deepcopy(response)
    tampered["item"][-1]["answer"][0]["valueQuantity"]["value"] = 3
    assert (
        instruments.score("phq9", answers_from_response("phq9", tampered, link_ids=link_ids)).total
        == 27
    )


def test_mii_phq9_response_against_its_own_questionnaire_is_refused(data):
    response = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    questionnaire = load(data / "scoring-vectors" / "mii-pro-Questionnaire-mii-qst-pro-phq-9.json")
    # Mismatched linkIds must not pass for an empty form.
    with pytest.raises(InvalidInput) as error:
        answers_from_response("phq9", response, questionnaire=questionnaire)
    assert error.value.field == "item"


def test_mii_phq9_response_with_matching_linkids_maps_through_the_questionnaire(data):
    response = load(
        data / "scoring-vectors" / "mii-pro-QuestionnaireResponse-mii-exa-pro-phq-9-response.json"
    )
    questionnaire = load(data / "scoring-vectors" / "mii-pro-Questionnaire-mii-qst-pro-phq-9.json")
    renamed = copy.deepcopy(response)
    for item in renamed["item"]:
        item["linkId"] = item["linkId"].replace("PHQ.", "PHQ-9.")
    answers = answers_from_response("phq9", renamed, questionnaire=questionnaire)
    assert instruments.score("phq9", answers).total == 27


@pytest.mark.parametrize(
    ("instrument_id", "name", "items", "total", "band"),
    [
        ("phq9", "PHQ9", [0, 0, 1, 1, 1, 0, 0, 0, 0], 3, "minimal"),
        ("gad7", "GAD7", [0, 0, 1, 1, 0, 1, 0], 3, "minimal"),
    ],
)
def test_hl7_phr_fsh_responses(data, instrument_id, name, items, total, band):
    path = data / "scoring-vectors" / f"hl7-phr-QuestionnaireResponse-ScoredAssessment-{name}.fsh"
    response = read_instance(path, "QuestionnaireResponse")
    inst = instruments.get(instrument_id)
    assert [item["linkId"] for item in response["item"]] == [item.loinc for item in inst.items]
    answers = answers_from_response(inst, response)
    assert list(answers.values()) == items
    result = instruments.score(inst, answers)
    assert (result.total, result.band.id) == (total, band)


def test_official_phq9_example_lacks_item_9_so_there_is_no_total(data):
    questionnaire = load(data / "fhir-r4-examples" / "Questionnaire-phq-9-questionnaire.json")
    inst = instruments.get("phq9")
    assert inst.item("q9").loinc not in loinc_items(questionnaire)
    # A response made against it: "Several days" everywhere it asks, a claimed total, and the
    # difficulty question, all under its own linkIds.
    answers_given = [
        {
            "linkId": item["linkId"],
            "answer": [{"valueCoding": {"system": LOINC, "code": "LA6569-3"}}],
        }
        for item in questionnaire["item"]
        if item["type"] == "choice" and item["code"][0]["code"] != "44256-6"
    ]
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [
            {"linkId": "Group", "item": answers_given},
            {"linkId": "TotalScore", "answer": [{"valueInteger": 9}]},
            {
                "linkId": "Difficulty",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA6572-7"}}],
            },
        ],
    }
    answers = answers_from_response(inst, response, questionnaire=questionnaire)
    assert answers == {**{f"q{n}": 1 for n in range(1, 9)}, "q9": None}
    assert instruments.score(inst, answers).total is None


# --- Other answer forms and errors -----------------------------------------------------------


def response_of(*items: dict) -> dict:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": list(items)}


def test_item_ids_integers_ordinals_and_unknown_items():
    answers = answers_from_response(
        "gad7",
        response_of(
            {"linkId": "q1", "answer": [{"valueInteger": 2}]},
            {
                "linkId": "69733-4",
                "answer": [
                    {
                        "valueCoding": {
                            "system": "urn:other-system",
                            "code": "often",
                            "extension": [{"url": ORDINAL_VALUE, "valueDecimal": 3}],
                        }
                    }
                ],
            },
            {"linkId": "70274-6", "answer": [{"valueInteger": 21}]},
            {
                "linkId": "69722-7",
                "answer": [{"valueCoding": {"system": LOINC, "code": "LA6572-7"}}],
            },
        ),
    )
    assert answers == {"q1": 2, "q2": None, "q3": 3, "q4": None, "q5": None, "q6": None, "q7": None}


@pytest.mark.parametrize(
    "answer",
    [
        {"valueCoding": {"system": LOINC, "code": "LA6572-7"}},  # a difficulty answer
        {"valueCoding": {"system": "urn:other-system", "code": "often"}},  # no ordinal value
        {
            "valueCoding": {
                "system": LOINC,
                "code": "LA6571-9",
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": 1}],
            }
        },
        {"valueInteger": 4},
        {"valueString": "3"},
    ],
)
def test_bad_answer_is_refused_naming_the_item_not_the_value(answer):
    with pytest.raises(InvalidInput) as error:
        answers_from_response("phq9", response_of({"linkId": "44259-0", "answer": [answer]}))
    assert error.value.field == "44259-0"
    assert "q3" in error.value.message
    # The codes sent are not echoed (only the allowed options are listed).
    assert "LA6572-7" not in error.value.message
    assert "often" not in error.value.message
