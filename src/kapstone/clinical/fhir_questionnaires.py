"""Rating scales as FHIR R4 Questionnaires, and FHIR QuestionnaireResponses back into answers.

    questionnaire_for(instruments.get("phq9"))          # a Questionnaire resource, as a dict
    answers = answers_from_response("phq9", response)  # {"q1": 0, ..., "q9": None}
    instruments.score("phq9", answers)

Other systems key their items in many ways (LOINC codes, our item ids, their own linkIds), so
reading accepts each of those; what it never does is take a submitted total: the score is
always recomputed from the items. Answers outside the instrument's options are refused with an
error that names the item and the rule, never the value sent.

The JSON is FHIR R4; it is checked against the R4B models of ``fhir.resources`` (ADR 0006).
Pure Python.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire

from kapstone.errors import InvalidInput

from .instruments import Instrument, Item, ItemKind, get

BASE = "http://kapstone.example/fhir"
LOINC = "http://loinc.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

Answer = int | bool | None


def answer_system(instrument: Instrument) -> str:
    """Our code system for answers that have no LOINC code: the code is the points."""
    return f"{BASE}/CodeSystem/{instrument.id}-answers"


def _resolve(instrument: str | Instrument) -> Instrument:
    return get(instrument) if isinstance(instrument, str) else instrument


def _link_id(item: Item) -> str:
    return item.loinc or item.id


def _choices(instrument: Instrument, item: Item) -> list[tuple[Answer, int, dict[str, Any]]]:
    """(answer, points, coding) for every allowed answer, fewest points first."""
    shipped = instrument.licence.text_may_ship
    choices = []
    for answer in item.answers:
        points = item.points(answer)
        option = item.option(answer)
        if option is not None and option.loinc:
            coding = {"system": LOINC, "code": option.loinc}
        else:
            coding = {"system": answer_system(instrument), "code": str(points)}
        if option is not None and shipped:
            coding["display"] = option.label
        else:
            coding["display"] = (
                ("Yes" if answer else "No") if isinstance(answer, bool) else str(answer)
            )
        choices.append((answer, points, coding))
    return choices


def _enable_when(instrument: Instrument, item: Item) -> list[dict[str, Any]]:
    if item.asked_if is None:
        return []
    condition = instrument.item(item.asked_if.item)
    for answer, _points, coding in _choices(instrument, condition):
        if answer == item.asked_if.answer and type(answer) is type(item.asked_if.answer):
            wanted = {key: coding[key] for key in ("system", "code")}
            return [{"question": _link_id(condition), "operator": "=", "answerCoding": wanted}]
    return []


def questionnaire_for(instrument: str | Instrument) -> dict[str, Any]:
    """The instrument as a FHIR R4 Questionnaire (JSON-ready dict), checked by the R4B model.

    Wording is included only where the definition says its licence lets it ship; otherwise
    items carry their neutral labels ("Item 4") and the clinic's licensed form has the words.
    """
    inst = _resolve(instrument)
    shipped = inst.licence.text_may_ship
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        # FHIR ids allow no underscore (cssrs_screener); the canonical url keeps ours.
        "id": inst.id.replace("_", "-"),
        "url": f"{BASE}/Questionnaire/{inst.id}",
        "version": inst.version,
        "name": "".join(ch for ch in inst.short_name if ch.isalnum()),
        "title": inst.name,
        "status": "active",
        "subjectType": ["Patient"],
    }
    if shipped and inst.stem:
        resource["description"] = inst.stem
    if inst.loinc_panel:
        resource["code"] = [{"system": LOINC, "code": inst.loinc_panel}]
    items = []
    for item in inst.items:
        entry: dict[str, Any] = {"linkId": _link_id(item)}
        if item.loinc:
            entry["code"] = [{"system": LOINC, "code": item.loinc}]
        entry["text"] = item.text if shipped and item.text else item.label
        entry["type"] = "choice"
        entry["required"] = item.asked_if is None
        enable_when = _enable_when(inst, item)
        if enable_when:
            entry["enableWhen"] = enable_when
        entry["answerOption"] = [
            {
                "valueCoding": coding,
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": points}],
            }
            for _answer, points, coding in _choices(inst, item)
        ]
        items.append(entry)
    resource["item"] = items
    # Refuse to hand out a resource the FHIR models reject, rather than let a receiver find out.
    Questionnaire.model_validate(resource)
    return resource


def _walk(items: Any) -> Iterator[dict[str, Any]]:
    """Every response item, depth first: groups nest items, and answers may nest them too."""
    for item in items or ():
        if not isinstance(item, Mapping):
            continue
        yield item
        yield from _walk(item.get("item"))
        for answer in item.get("answer") or ():
            if isinstance(answer, Mapping):
                yield from _walk(answer.get("item"))


def _ordinal(element: Mapping[str, Any]) -> float | None:
    for extension in element.get("extension") or ():
        if isinstance(extension, Mapping) and extension.get("url") == ORDINAL_VALUE:
            value = extension.get("valueDecimal", extension.get("valueInteger"))
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
    return None


def _item_map(
    inst: Instrument,
    questionnaire: Mapping[str, Any] | None,
    link_ids: Mapping[str, str] | None,
) -> dict[str, Item]:
    """linkId -> our item. Our item ids and LOINC item codes always work; the Questionnaire a
    response was made against adds its own linkIds where its items carry LOINC codes; an
    explicit map covers a sender whose linkIds match neither."""
    by_key = {item.id: item for item in inst.items}
    by_key.update({item.loinc: item for item in inst.items if item.loinc})
    mapping = dict(by_key)
    if questionnaire is not None:
        for q_item in _walk(questionnaire.get("item")):
            link_id = q_item.get("linkId")
            for code in q_item.get("code") or ():
                if code.get("system") in (LOINC, None) and code.get("code") in by_key:
                    mapping[link_id] = by_key[code["code"]]
    for link_id, key in (link_ids or {}).items():
        if key not in by_key:
            raise InvalidInput(field=link_id, message=f"maps to no item of the {inst.short_name}")
        mapping[link_id] = by_key[key]
    return mapping


def _answer_for(inst: Instrument, item: Item, link_id: str, answer: Mapping[str, Any]) -> Answer:
    choices = _choices(inst, item)
    where = f"{inst.short_name} item {item.id} ({link_id})"
    allowed = ", ".join(f"{c['system']}|{c['code']}" for _a, _p, c in choices)
    rule = f"{where}: the answer must be one of the instrument's options ({allowed})"
    coding = answer.get("valueCoding")
    if isinstance(coding, Mapping):
        ordinal = _ordinal(coding)
        if ordinal is None:
            ordinal = _ordinal(answer)
        system, code = coding.get("system"), coding.get("code")
        for value, points, ours in choices:
            # Some senders leave the system off a LOINC answer code; the LA codes are unique.
            same_system = system == ours["system"] or (system is None and ours["system"] == LOINC)
            if same_system and code == ours["code"]:
                if ordinal is not None and ordinal != points:
                    raise InvalidInput(
                        field=link_id,
                        message=f"{where}: the ordinal value disagrees with the answer code",
                    )
                return value
        if system in (LOINC, answer_system(inst)) or ordinal is None:
            raise InvalidInput(field=link_id, message=rule)
        for value, points, _ours in choices:
            if ordinal == points:
                return value
        raise InvalidInput(field=link_id, message=f"{where}: {item.rule}")
    if "valueInteger" in answer and item.kind is ItemKind.SCALE:
        value = answer["valueInteger"]
        if isinstance(value, int) and not isinstance(value, bool) and value in item.answers:
            return value
        raise InvalidInput(field=link_id, message=f"{where}: {item.rule}")
    if "valueBoolean" in answer and item.kind is ItemKind.YES_NO:
        value = answer["valueBoolean"]
        if isinstance(value, bool):
            return value
        raise InvalidInput(field=link_id, message=f"{where}: {item.rule}")
    raise InvalidInput(field=link_id, message=rule)


def answers_from_response(
    instrument: str | Instrument,
    questionnaire_response: Mapping[str, Any],
    *,
    questionnaire: Mapping[str, Any] | None = None,
    link_ids: Mapping[str, str] | None = None,
) -> dict[str, Answer]:
    """The answers in a FHIR QuestionnaireResponse, keyed by our item ids, ready for ``score``.

    Every item of the instrument is in the result; None where the response does not answer it
    (so ``score`` gives no total). Items that are not part of the instrument (a PHQ-9's
    difficulty question, a submitted total) are ignored. ``questionnaire`` is the Questionnaire
    the response was made against, for linkIds that are neither our ids nor LOINC codes;
    ``link_ids`` maps any remaining linkId to our item id or the item's LOINC code.
    """
    inst = _resolve(instrument)
    if questionnaire_response.get("resourceType") != "QuestionnaireResponse":
        raise InvalidInput(field="resourceType", message="must be QuestionnaireResponse")
    mapping = _item_map(inst, questionnaire, link_ids)
    answers: dict[str, Answer] = dict.fromkeys(inst.item_ids)
    seen: set[str] = set()
    answered_elsewhere = False
    for response_item in _walk(questionnaire_response.get("item")):
        link_id = str(response_item.get("linkId", ""))
        given = [a for a in response_item.get("answer") or () if isinstance(a, Mapping)]
        item = mapping.get(link_id)
        if item is None:
            answered_elsewhere = answered_elsewhere or bool(given)
            continue
        where = f"{inst.short_name} item {item.id} ({link_id})"
        if item.id in seen:
            raise InvalidInput(field=link_id, message=f"{where}: answered more than once")
        seen.add(item.id)
        if not given:
            continue
        if len(given) > 1:
            raise InvalidInput(field=link_id, message=f"{where}: takes a single answer")
        answers[item.id] = _answer_for(inst, item, link_id, given[0])
    if answered_elsewhere and not seen:
        # Answers under linkIds we cannot place would otherwise read as an empty form.
        raise InvalidInput(
            field="item",
            message=f"no answered item matches a {inst.short_name} item by linkId; "
            "pass the Questionnaire the response was made against, or a linkId map",
        )
    return answers
