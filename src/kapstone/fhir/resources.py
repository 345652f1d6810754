"""The FHIR R4 resources the endpoints hand out, built as JSON and checked with the R4B models
of ``fhir.resources`` before they leave (ADR 0006): stored scores as QuestionnaireResponses and
Observations, search results as Bundles, errors as OperationOutcomes, and the
CapabilityStatement.

Builders take plain values or a stored assessment (read by attribute) and return dicts.
Pure Python.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kapstone.clinical import instruments
from kapstone.clinical.fhir_questionnaires import BASE, LOINC, questionnaire_for

from .intake import OURS, Issue

FHIR_VERSION = "4.0.1"
# Our code for a total that LOINC has no code for: the code is the instrument id.
SCORE_SYSTEM = f"{BASE}/CodeSystem/scores"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def band_system(instrument_id: str) -> str:
    return f"{BASE}/CodeSystem/{instrument_id}-bands"


def risk_level_system(instrument_id: str) -> str:
    return f"{BASE}/CodeSystem/{instrument_id}-risk-levels"


def _instant(moment: datetime) -> str:
    # Always in UTC, so a resource reads the same as created and as stored.
    return moment.astimezone(UTC).isoformat()


def score_code(inst: instruments.Instrument) -> dict[str, str]:
    """The Observation code of the instrument's score: the LOINC total code where the
    definition has one, otherwise ours."""
    if inst.loinc_total:
        return {"system": LOINC, "code": inst.loinc_total, "display": f"{inst.short_name} total"}
    if inst.scoring is instruments.Scoring.RISK_LEVELS:
        return {
            "system": SCORE_SYSTEM,
            "code": inst.id,
            "display": f"{inst.short_name} risk level",
        }
    return {"system": SCORE_SYSTEM, "code": inst.id, "display": f"{inst.short_name} total"}


def instruments_for_code(token: str) -> set[str]:
    """Instrument ids whose score code matches a FHIR token (``system|code``, ``|code`` for
    no system, or ``code`` in any system). Several tokens may be joined by commas."""
    found = set()
    for value in token.split(","):
        system, bar, code = value.rpartition("|")
        for inst in instruments.all_instruments():
            ours = score_code(inst)
            if code != ours["code"]:
                continue
            if bar and system != ours["system"]:
                continue
            found.add(inst.id)
    return found


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue.code,
                "diagnostics": issue.diagnostics,
                **({"expression": [issue.expression]} if issue.expression else {}),
            }
            for issue in issues
        ],
    }
    OperationOutcome.model_validate(resource)
    return resource


def _answer_coding(questionnaire_item: Mapping[str, Any], item, value) -> dict[str, Any] | None:
    # The Questionnaire lists the options in the order of item.answers (fewest points first).
    for answer, option in zip(item.answers, questionnaire_item["answerOption"], strict=True):
        if answer == value and type(answer) is type(value):
            return dict(option["valueCoding"])
    return None


def questionnaire_response(assessment) -> dict[str, Any]:
    """The stored answers as a QuestionnaireResponse against our Questionnaire for the
    instrument. It carries the answers only: the score is the Observation derived from it."""
    inst = instruments.get(assessment.instrument)
    questionnaire = questionnaire_for(inst)
    items = []
    for item, entry in zip(inst.items, questionnaire["item"], strict=True):
        value = assessment.answers.get(item.id)
        if value is None:
            continue
        coding = _answer_coding(entry, item, value)
        if coding is not None:
            items.append({"linkId": entry["linkId"], "answer": [{"valueCoding": coding}]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(assessment.public_id),
        "questionnaire": f"{OURS}{inst.id}|{assessment.definition_version}",
        "status": "completed",
        "subject": {"reference": f"Patient/{assessment.patient_id}"},
        "authored": _instant(assessment.answered_at),
    }
    if items:
        resource["item"] = items
    QuestionnaireResponse.model_validate(resource)
    return resource


def observation(assessment) -> dict[str, Any]:
    """The score of a stored assessment: the recomputed total (never one that was sent),
    its band as the interpretation, derived from the assessment's QuestionnaireResponse."""
    inst = instruments.get(assessment.instrument)
    code = score_code(inst)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(assessment.public_id),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [code], "text": code["display"]},
        "subject": {"reference": f"Patient/{assessment.patient_id}"},
        "effectiveDateTime": _instant(assessment.answered_at),
        "issued": _instant(assessment.recorded_at),
    }
    risk_level = (assessment.extra or {}).get("risk_level")
    if assessment.total is not None:
        resource["valueInteger"] = assessment.total
    elif inst.scoring is instruments.Scoring.RISK_LEVELS and risk_level:
        label = assessment.extra.get("risk_level_label") or risk_level
        resource["valueCodeableConcept"] = {
            "coding": [
                {"system": risk_level_system(inst.id), "code": risk_level, "display": label}
            ],
            "text": label,
        }
    else:
        # Not every asked item was answered, so there is no total (the missing-item rule).
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}],
            "text": "not every asked item was answered",
        }
    if assessment.band_code:
        resource["interpretation"] = [
            {
                "coding": [
                    {
                        "system": band_system(inst.id),
                        "code": assessment.band_code,
                        "display": assessment.band_label,
                    }
                ],
                "text": assessment.band_label,
            }
        ]
    resource["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{assessment.public_id}"}]
    Observation.model_validate(resource)
    return resource


def searchset(
    resources: Iterable[Mapping[str, Any]], *, self_url: str, base_url: str
) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }
    Bundle.model_validate(bundle)
    return bundle


def capability_statement(*, base_url: str, published: date) -> dict[str, Any]:
    read_search = [{"code": "read"}, {"code": "search-type"}]
    resource = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published.isoformat(),
        "publisher": "Kapstone",
        "kind": "instance",
        "software": {"name": "Kapstone"},
        "implementation": {
            "description": "Kapstone: rating scales as Questionnaires, questionnaire "
            "responses in, scores out as Observations",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Every request carries a Kapstone API token: "
                    "'Authorization: Bearer <token>'. The token's user needs the "
                    "assessment.record permission to read Questionnaires and this statement "
                    "and to create QuestionnaireResponses, and patient.view_clinical to read "
                    "QuestionnaireResponses and Observations."
                },
                "resource": [
                    {
                        "type": "Questionnaire",
                        "interaction": read_search,
                        "searchParam": [{"name": "url", "type": "uri"}],
                    },
                    {
                        "type": "QuestionnaireResponse",
                        "interaction": [{"code": "read"}, {"code": "create"}],
                        "documentation": "Create scores the answers (a total sent is never "
                        "read) and stores them for the patient in subject (Patient/<id>); "
                        "status must be completed or amended, authored a date-time with a "
                        "time zone, and questionnaire one of ours, a LOINC panel "
                        "(http://loinc.org/q/<panel>) or a published one this server knows.",
                    },
                    {
                        "type": "Observation",
                        "interaction": read_search,
                        "searchParam": [
                            {
                                "name": "subject",
                                "type": "reference",
                                "documentation": "Required: Patient/<id>",
                            },
                            {
                                "name": "patient",
                                "type": "reference",
                                "documentation": "The same as subject",
                            },
                            {
                                "name": "code",
                                "type": "token",
                                "documentation": "The score's code, e.g. "
                                "http://loinc.org|70274-6 (GAD-7 total)",
                            },
                        ],
                    },
                ],
            }
        ],
    }
    CapabilityStatement.model_validate(resource)
    return resource
