"""The FHIR R4 endpoints: questionnaires out, questionnaire responses in, scores as
Observations out (ADR 0007).

    GET  /fhir/metadata                        CapabilityStatement
    GET  /fhir/Questionnaire[?url=]            every instrument, as a searchset Bundle
    GET  /fhir/Questionnaire/<id>
    POST /fhir/QuestionnaireResponse           scored and stored; 201 with Location
    GET  /fhir/QuestionnaireResponse/<id>
    GET  /fhir/Observation?subject=Patient/<id>[&code=system|code]
    GET  /fhir/Observation/<id>

Ids of responses and Observations are the assessment's public id, never a row id; a
patient is ``Patient/<id>`` with the same id as the JSON API's. Every read of a patient's
data is audited (``fhir.read``, ``fhir.search``); a create is audited by the action that
stores it (``assessment.create``).
"""

import json
import uuid
from datetime import date

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http.request import RawPostDataException
from django.urls import path, reverse

from kapstone.access.roles import Permission as P
from kapstone.assessments.actions import record_assessment
from kapstone.assessments.models import Assessment
from kapstone.audit.recording import record
from kapstone.clinical import instruments
from kapstone.clinical.fhir_questionnaires import questionnaire_for
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.patients.models import Patient

from . import intake, resources
from .auth import JSON_TYPES, fhir_requires, fhir_response, outcome_response
from .intake import Issue

app_name = "fhir"

# When this interface's CapabilityStatement last changed.
PUBLISHED = date(2026, 11, 21)


def _base_url(request) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("/metadata")


def _not_found(what: str):
    return outcome_response(404, [Issue("not-found", f"{what}: not found")])


def _assessment(resource_id: str) -> Assessment | None:
    try:
        public_id = uuid.UUID(resource_id)
    except ValueError:
        return None
    return Assessment.objects.filter(public_id=public_id).first()


@fhir_requires(P.ASSESSMENT_RECORD)
def metadata(request):
    return fhir_response(
        resources.capability_statement(base_url=_base_url(request), published=PUBLISHED)
    )


@fhir_requires(P.ASSESSMENT_RECORD)
def questionnaire_search(request):
    wanted = request.GET.get("url")
    found = []
    for inst in instruments.all_instruments():
        resource = questionnaire_for(inst)
        if wanted is None or wanted.split("|", 1)[0] == resource["url"]:
            found.append(resource)
    return fhir_response(
        resources.searchset(
            found, self_url=request.build_absolute_uri(), base_url=_base_url(request)
        )
    )


@fhir_requires(P.ASSESSMENT_RECORD)
def questionnaire_read(request, resource_id: str):
    for inst in instruments.all_instruments():
        # Resource ids swap the instrument id's _ for - (ADR 0006).
        if inst.id.replace("_", "-") == resource_id:
            return fhir_response(questionnaire_for(inst))
    return _not_found("Questionnaire")


def _read_json(request):
    """The parsed body, or an OperationOutcome response saying why there is none."""
    if request.content_type not in JSON_TYPES:
        return None, outcome_response(
            415,
            [
                Issue(
                    "not-supported", "the body must be application/fhir+json (or application/json)"
                )
            ],
        )
    try:
        body = request.body
    except (RequestDataTooBig, RawPostDataException):
        return None, outcome_response(413, [Issue("too-long", "the body is too large")])

    def refuse_constant(_name):
        raise ValueError("not a JSON number")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=refuse_constant), None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, outcome_response(
            400, [Issue("structure", "the body is not valid JSON (UTF-8)")]
        )


@fhir_requires(P.ASSESSMENT_RECORD, methods=("POST",))
def questionnaire_response_create(request):
    resource, refusal = _read_json(request)
    if refusal is not None:
        return refusal
    try:
        submission = intake.read_response(resource)
    except intake.Refused as refused:
        return outcome_response(refused.status, refused.issues)
    patient = Patient.objects.filter(pk=submission.patient_id).first()
    if patient is None:
        return outcome_response(
            404,
            [
                Issue(
                    "not-found",
                    "subject: no patient of this clinic has this id",
                    "QuestionnaireResponse.subject.reference",
                )
            ],
        )
    try:
        # One transaction around storing and answering: if the stored resource cannot be
        # built, nothing is kept.
        with transaction.atomic():
            assessment = record_assessment(
                by=request.user,
                patient=patient,
                instrument=submission.instrument,
                answers=submission.answers,
                answered_at=submission.authored,
                source=Assessment.Source.FHIR,
            )
            stored = resources.questionnaire_response(assessment)
    except InvalidInputs as invalid:
        return outcome_response(
            422, [intake.issue_for(error, submission) for error in invalid.errors]
        )
    except InvalidInput as error:
        return outcome_response(422, [intake.issue_for(error, submission)])
    except AccessDenied as denied:
        return outcome_response(403, [Issue("forbidden", str(denied))])
    response = fhir_response(stored, 201)
    response["Location"] = request.build_absolute_uri(
        reverse("fhir:questionnaire_response_read", args=[stored["id"]])
    )
    return response


def _audit_read(request, assessment: Assessment, resource_type: str) -> None:
    record(
        actor=request.user,
        action="fhir.read",
        target=assessment,
        patient=assessment.patient,
        detail={"resource": resource_type, "instrument": assessment.instrument},
    )


@fhir_requires(P.PATIENT_VIEW_CLINICAL)
def questionnaire_response_read(request, resource_id: str):
    assessment = _assessment(resource_id)
    if assessment is None:
        return _not_found("QuestionnaireResponse")
    resource = resources.questionnaire_response(assessment)
    _audit_read(request, assessment, "QuestionnaireResponse")
    return fhir_response(resource)


@fhir_requires(P.PATIENT_VIEW_CLINICAL)
def observation_read(request, resource_id: str):
    assessment = _assessment(resource_id)
    if assessment is None:
        return _not_found("Observation")
    resource = resources.observation(assessment)
    _audit_read(request, assessment, "Observation")
    return fhir_response(resource)


def _subject_id(request) -> tuple[int | None, list[Issue]]:
    values = request.GET.getlist("subject") + request.GET.getlist("patient")
    if len(values) != 1:
        rule = "is required" if not values else "takes one patient"
        return None, [
            Issue("required", f"subject: {rule} (subject=Patient/<id>)", "Observation.subject")
        ]
    reference = values[0].removeprefix("Patient/")
    if not reference.isdigit() or reference.startswith("0") or len(reference) > 18:
        return None, [Issue("value", "subject: must be Patient/<id>", "Observation.subject")]
    return int(reference), []


@fhir_requires(P.PATIENT_VIEW_CLINICAL)
def observation_search(request):
    patient_id, issues = _subject_id(request)
    if issues:
        return outcome_response(400, issues)
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return outcome_response(
            404,
            [Issue("not-found", "subject: no patient of this clinic has this id", "subject")],
        )
    assessments = Assessment.objects.filter(patient=patient).order_by("answered_at", "id")
    code = request.GET.get("code")
    if code is not None:
        assessments = assessments.filter(instrument__in=resources.instruments_for_code(code))
    found = [resources.observation(assessment) for assessment in assessments]
    record(
        actor=request.user,
        action="fhir.search",
        target=patient,
        detail={"resource": "Observation", "code": bool(code), "results": len(found)},
    )
    return fhir_response(
        resources.searchset(
            found, self_url=request.build_absolute_uri(), base_url=_base_url(request)
        )
    )


urlpatterns = [
    path("metadata", metadata, name="metadata"),
    path("Questionnaire", questionnaire_search, name="questionnaire_search"),
    path("Questionnaire/<str:resource_id>", questionnaire_read, name="questionnaire_read"),
    path(
        "QuestionnaireResponse",
        questionnaire_response_create,
        name="questionnaire_response_create",
    ),
    path(
        "QuestionnaireResponse/<str:resource_id>",
        questionnaire_response_read,
        name="questionnaire_response_read",
    ),
    path("Observation", observation_search, name="observation_search"),
    path("Observation/<str:resource_id>", observation_read, name="observation_read"),
]
