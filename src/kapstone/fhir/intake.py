"""An incoming FHIR QuestionnaireResponse, read into what ``record_assessment`` needs.

    submission = read_response(json.loads(body))
    submission.instrument, submission.patient_id, submission.answers, submission.authored

The instrument comes from the response's ``questionnaire`` canonical: our own Questionnaires,
the LOINC form of a panel (``http://loinc.org/q/44249-1``, as LOINC-based form tools such as
LHC-Forms name a panel without a url of its own) and a short table of published
Questionnaires other systems send against. Answers are read by
``kapstone.clinical.fhir_questionnaires`` (never a submitted total); here every answered
linkId must also belong to the Questionnaire named, so a misspelt item is refused rather than
read as a skipped one.

Problems are raised together as ``Refused``: each names where (a FHIRPath expression with the
linkId) and the rule, never the value sent. Pure Python.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kapstone.clinical import instruments
from kapstone.clinical.fhir_questionnaires import BASE, answers_from_response
from kapstone.errors import InvalidInput

OURS = f"{BASE}/Questionnaire/"
LOINC_FORM = "http://loinc.org/q/"
# The statuses that mean the answers are final: a draft is not a score.
FINAL_STATUSES = ("completed", "amended")
# FHIR dateTime with a time (so also a time zone): a score's moment must be known.
DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})",
)
PATIENT_REFERENCE = re.compile(r"Patient/(?P<id>[1-9]\d{0,17})")
# The LOINC "how difficult have these problems made it" item that PHQ and GAD panels carry.
DIFFICULTY = "69722-7"
# A linkId is named in an error so the sender can find the item; a long one is cut short.
LINK_ID_SHOWN = 64


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue. ``code`` is a FHIR issue type (structure, required, value,
    invalid, not-found, business-rule...)."""

    code: str
    diagnostics: str
    expression: str | None = None


class Refused(Exception):
    """The response cannot be stored; ``status`` is the HTTP status (400: not a readable
    QuestionnaireResponse, 422: readable but against the rules)."""

    def __init__(self, status: int, issues: list[Issue]):
        self.status = status
        self.issues = issues
        super().__init__("; ".join(issue.diagnostics for issue in issues))


@dataclass(frozen=True)
class KnownQuestionnaire:
    """A Questionnaire other systems publish and send responses against."""

    instrument: str
    source: str
    # Their linkId -> our item id, where it is neither our id nor the item's LOINC code.
    link_ids: Mapping[str, str] = field(default_factory=dict)
    # Their items that are not the instrument's (a difficulty question, a stored total).
    other_items: frozenset[str] = frozenset()


def _mii_phq9() -> KnownQuestionnaire:
    # Its Questionnaire keys the items PHQ-9.1..PHQ-9.9, but its published example response
    # keys them PHQ.1..PHQ.9; senders following either are read.
    link_ids = {}
    for n in range(1, 10):
        link_ids[f"PHQ-9.{n}"] = f"q{n}"
        link_ids[f"PHQ.{n}"] = f"q{n}"
    return KnownQuestionnaire(
        instrument="phq9",
        source="Medizininformatik-Initiative, PRO module: Questionnaire mii-qst-pro-phq-9",
        link_ids=link_ids,
        other_items=frozenset({"PHQ-9.10", "PHQ-9.Score", "PHQ.10", "PHQ.Score"}),
    )


_MII_PHQ9 = _mii_phq9()

PUBLISHED: Mapping[str, KnownQuestionnaire] = {
    "http://hl7.org/fhir/uv/phr/Questionnaire/phq9": KnownQuestionnaire(
        "phq9", "HL7 Personal Health Records IG: QuestionnaireScoredAssessmentPHQ9"
    ),
    "http://hl7.org/fhir/uv/phr/Questionnaire/gad7": KnownQuestionnaire(
        "gad7", "HL7 Personal Health Records IG: QuestionnaireScoredAssessmentGAD7"
    ),
    "https://www.medizininformatik-initiative.de/fhir/ext/modul-pro/Questionnaire/mii-qst-pro-phq-9": (
        _MII_PHQ9
    ),
    # The MII example response names its Questionnaire by a relative reference.
    "Questionnaire/mii-qst-pro-phq-9": _MII_PHQ9,
}


@dataclass(frozen=True)
class Submission:
    instrument: str
    patient_id: int
    authored: datetime
    answers: dict[str, int | bool | None]
    # Our item id -> the linkId it was sent under, to name items in later errors.
    link_ids: dict[str, str]


def shown(link_id: str) -> str:
    link_id = link_id.replace("\\", "\\\\").replace("'", "\\'")
    return link_id if len(link_id) <= LINK_ID_SHOWN else link_id[:LINK_ID_SHOWN] + "..."


def item_path(link_id: str) -> str:
    return f"QuestionnaireResponse.repeat(item).where(linkId='{shown(link_id)}')"


def _loinc_forms(code: str, panel: str | None) -> list[str]:
    # LHC-Forms keys LOINC items by their path: /44250-9, or /44249-1/44250-9 inside a panel.
    forms = [code, f"/{code}"]
    if panel:
        forms.append(f"/{panel}/{code}")
    return forms


def _ours(inst: instruments.Instrument) -> KnownQuestionnaire:
    # A sender may add the LOINC total to its response; it is never read, but not an error.
    others = _loinc_forms(inst.loinc_total, inst.loinc_panel) if inst.loinc_total else []
    return KnownQuestionnaire(inst.id, "Kapstone", other_items=frozenset(others))


def _loinc_form(inst: instruments.Instrument) -> KnownQuestionnaire:
    link_ids = {}
    for item in inst.items:
        if item.loinc:
            for form in _loinc_forms(item.loinc, inst.loinc_panel)[1:]:
                link_ids[form] = item.id
    others = {DIFFICULTY}
    if inst.loinc_total:
        others.add(inst.loinc_total)
    return KnownQuestionnaire(
        inst.id,
        f"LOINC panel {inst.loinc_panel}",
        link_ids=link_ids,
        other_items=frozenset(
            form for code in others for form in _loinc_forms(code, inst.loinc_panel)
        ),
    )


def known_questionnaire(canonical: str) -> KnownQuestionnaire | None:
    """The Questionnaire a canonical names, or None. A ``|version`` suffix is allowed."""
    url = canonical.split("|", 1)[0]
    for inst in instruments.all_instruments():
        # Our canonical keeps the instrument id; our resource id swaps _ for - (ADR 0006).
        if url in (OURS + inst.id, f"Questionnaire/{inst.id.replace('_', '-')}"):
            return _ours(inst)
        if inst.loinc_panel and url == LOINC_FORM + inst.loinc_panel:
            return _loinc_form(inst)
    return PUBLISHED.get(url)


def _walk(items: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(item, where) for every response item, depth first, checking the shape on the way."""
    if items is None:
        return
    if not isinstance(items, list):
        raise Refused(400, [Issue("structure", f"{path}: must be a JSON array", path)])
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise Refused(400, [Issue("structure", f"{where}: must be a JSON object", where)])
        if not isinstance(item.get("linkId"), str) or not item["linkId"]:
            raise Refused(400, [Issue("required", f"{where}.linkId: is required", where)])
        answers = item.get("answer")
        if answers is not None and not isinstance(answers, list):
            where = f"{where}.answer"
            raise Refused(400, [Issue("structure", f"{where}: must be a JSON array", where)])
        yield item, where
        yield from _walk(item.get("item"), f"{where}.item")
        for position, answer in enumerate(answers or ()):
            if not isinstance(answer, Mapping):
                where_answer = f"{where}.answer[{position}]"
                raise Refused(
                    400,
                    [Issue("structure", f"{where_answer}: must be a JSON object", where_answer)],
                )
            yield from _walk(answer.get("item"), f"{where}.answer[{position}].item")


def _known_link_ids(inst: instruments.Instrument, known: KnownQuestionnaire) -> set[str]:
    ids = set(inst.item_ids) | set(known.link_ids) | set(known.other_items)
    ids |= {item.loinc for item in inst.items if item.loinc}
    return ids


def _subject(resource: Mapping[str, Any], issues: list[Issue]) -> int | None:
    subject = resource.get("subject")
    if subject is None:
        issues.append(
            Issue(
                "required",
                "subject: is required, a reference to a patient of this clinic (Patient/<id>)",
                "QuestionnaireResponse.subject",
            )
        )
        return None
    reference = subject.get("reference") if isinstance(subject, Mapping) else None
    match = PATIENT_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        issues.append(
            Issue(
                "value",
                "subject: must reference a patient of this clinic as Patient/<id>",
                "QuestionnaireResponse.subject.reference",
            )
        )
        return None
    return int(match["id"])


def _authored(resource: Mapping[str, Any], issues: list[Issue]) -> datetime | None:
    where = "QuestionnaireResponse.authored"
    value = resource.get("authored")
    if value is None:
        issues.append(
            Issue("required", "authored: is required (when the answers were given)", where)
        )
        return None
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        issues.append(Issue("value", "authored: must be a date and time with a time zone", where))
        return None
    # Python reads at most microseconds; FHIR allows more digits.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError:
        issues.append(Issue("value", "authored: is not a valid date and time", where))
        return None


def _status(resource: Mapping[str, Any], issues: list[Issue]) -> None:
    if resource.get("status") not in FINAL_STATUSES:
        issues.append(
            Issue(
                "business-rule",
                "status: must be completed or amended; answers still in progress are not scored",
                "QuestionnaireResponse.status",
            )
        )


def _questionnaire(resource: Mapping[str, Any], issues: list[Issue]) -> KnownQuestionnaire | None:
    where = "QuestionnaireResponse.questionnaire"
    canonical = resource.get("questionnaire")
    if canonical is None:
        issues.append(
            Issue("required", "questionnaire: is required, to know which instrument", where)
        )
        return None
    known = known_questionnaire(canonical) if isinstance(canonical, str) else None
    if known is None:
        issues.append(
            Issue(
                "not-supported",
                "questionnaire: is not a Questionnaire this server reads "
                "(see GET /fhir/Questionnaire and the CapabilityStatement)",
                where,
            )
        )
    return known


def read_response(resource: Any) -> Submission:
    """The submission in a parsed QuestionnaireResponse, or ``Refused`` with every problem
    that can be found before the answers are scored."""
    if not isinstance(resource, Mapping):
        raise Refused(400, [Issue("structure", "the body must be a JSON object")])
    if resource.get("resourceType") != "QuestionnaireResponse":
        raise Refused(
            400,
            [Issue("invalid", "resourceType: must be QuestionnaireResponse", "resourceType")],
        )
    items = list(_walk(resource.get("item"), "QuestionnaireResponse.item"))
    issues: list[Issue] = []
    _status(resource, issues)
    patient_id = _subject(resource, issues)
    authored = _authored(resource, issues)
    known = _questionnaire(resource, issues)
    answers: dict[str, int | bool | None] = {}
    sent_as: dict[str, str] = {}
    if known is not None:
        inst = instruments.get(known.instrument)
        allowed = _known_link_ids(inst, known)
        for item, _where in items:
            if item["linkId"] not in allowed and item.get("answer"):
                issues.append(
                    Issue(
                        "invalid",
                        f"linkId '{shown(item['linkId'])}': is not an item of the "
                        f"{inst.short_name} Questionnaire named",
                        item_path(item["linkId"]),
                    )
                )
        link_ids = dict(known.link_ids)
        try:
            answers = answers_from_response(inst, resource, link_ids=link_ids)
        except InvalidInput as error:
            # "item" (nothing answered matches) is already said, per linkId, above.
            if error.field != "item":
                issues.append(Issue("value", error.message, item_path(error.field)))
            elif not issues:
                issues.append(
                    Issue(
                        "invalid",
                        f"no answered item is an item of the {inst.short_name}",
                        "QuestionnaireResponse.item",
                    )
                )
        by_key = {item.id: item for item in inst.items}
        by_key.update({item.loinc: item for item in inst.items if item.loinc})
        for item, _where in items:
            key = link_ids.get(item["linkId"], item["linkId"])
            if key in by_key:
                sent_as.setdefault(by_key[key].id, item["linkId"])
    if issues:
        raise Refused(422, issues)
    assert known is not None and patient_id is not None and authored is not None
    return Submission(
        instrument=known.instrument,
        patient_id=patient_id,
        authored=authored,
        answers=answers,
        link_ids=sent_as,
    )


def issue_for(error: InvalidInput, submission: Submission) -> Issue:
    """An error from recording the assessment, pointed at where it is in the response."""
    if error.field == "answered_at":
        return Issue("value", f"authored: {error.message}", "QuestionnaireResponse.authored")
    inst = instruments.get(submission.instrument)
    if error.field in inst.item_ids:
        link_id = submission.link_ids.get(error.field, error.field)
        return Issue(
            "value",
            f"{inst.short_name} item {error.field} ({shown(link_id)}): {error.message}",
            item_path(link_id),
        )
    return Issue("business-rule", f"{error.field}: {error.message}")
