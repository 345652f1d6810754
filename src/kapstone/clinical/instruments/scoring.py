"""Score an instrument: total, severity band, subscales, flags.

The rules come from the definition files (see ``registry``); this module only applies them.
A total is given only when every asked item is answered: the clinical reference gives no
published prorating rule for any of these instruments, and a prorated number on a chart looks
exactly like a real one. Flags are different: they look at whatever was answered, because a
positive answer to a suicide question on an unfinished form still needs a person to see it.

Errors name the item and the rule, never the value given. Pure Python.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kapstone.errors import InvalidInput

from . import registry
from .definition import Band, Instrument, Item, ItemKind, RiskLevel, Scoring

Answer = int | bool | None


@dataclass(frozen=True)
class Flag:
    """Something a person must look at (``urgent``: now, before the patient leaves)."""

    code: str
    urgent: bool
    detail: str
    level: str | None = None  # the risk level that raised it, where the instrument has one


@dataclass(frozen=True)
class Score:
    instrument: str
    version: str  # of the definition used, so a stored score says which rules made it
    total: int | None  # None unless every asked item is answered
    max_total: int | None  # None for an instrument without a total (C-SSRS screener)
    band: Band | None
    subscales: Mapping[str, int | None]
    item_scores: Mapping[str, int | None]  # points after reverse scoring; None: not given
    missing: tuple[str, ...]  # asked items left unanswered
    complete: bool
    flags: tuple[Flag, ...]
    # Instrument-specific results: band_set, cutoffs, mean_item_score,
    # provisional_diagnosis_*, risk_level*.
    extra: Mapping[str, Any]

    @property
    def urgent(self) -> bool:
        return any(flag.urgent for flag in self.flags)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        band = None
        if self.band is not None:
            band = {
                "id": self.band.id,
                "label": self.band.label,
                "min": self.band.min,
                "max": self.band.max,
                "convention": self.band.convention,
            }
            if self.band.note:
                band["note"] = self.band.note
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": self.total,
            "max_total": self.max_total,
            "band": band,
            "subscales": dict(self.subscales),
            "item_scores": dict(self.item_scores),
            "missing": list(self.missing),
            "complete": self.complete,
            "flags": [
                {"code": f.code, "urgent": f.urgent, "detail": f.detail, "level": f.level}
                for f in self.flags
            ],
            "extra": {key: _plain(value) for key, value in self.extra.items()},
        }


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _resolve(instrument: str | Instrument) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else registry.get(instrument)


# ---------------------------------------------------------------------------------------------
# Answers


def _normalise(item: Item, value: Any) -> Answer:
    """The answer as the item's own type, or InvalidInput naming the item and the rule."""
    if value is None:
        return None
    if item.kind is ItemKind.YES_NO:
        if isinstance(value, bool):
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
        raise InvalidInput(item.id, item.rule)
    # bool is an int to Python, but `True` for a 0-3 rating is a mistake, not a 1.
    if type(value) is not int or not item.min <= value <= item.max:
        raise InvalidInput(item.id, item.rule)
    return value


def validate_answers(
    instrument: str | Instrument, answers: Mapping[str, Any]
) -> list[InvalidInput]:
    """Every problem with these answers, so a form can show them all at once."""
    inst = _resolve(instrument)
    errors: list[InvalidInput] = []
    for key in answers:
        if key not in inst.item_ids:
            errors.append(InvalidInput(str(key), f"is not an item of the {inst.short_name}"))
    normalised: dict[str, Answer] = {}
    for item in inst.items:
        try:
            normalised[item.id] = _normalise(item, answers.get(item.id))
        except InvalidInput as error:
            errors.append(error)
            normalised[item.id] = None
    for item in inst.items:
        if normalised[item.id] is not None and _asked(inst, item, normalised) is False:
            parent = item.asked_if
            errors.append(
                InvalidInput(
                    item.id,
                    f"must be left blank unless {parent.item} is {'yes' if parent.answer else 'no'}"
                    " (it is not asked otherwise)",
                )
            )
    return errors


def _asked(inst: Instrument, item: Item, answers: Mapping[str, Answer]) -> bool | None:
    """True if the item is asked, False if skip logic leaves it out, None if that depends on
    an earlier answer that is itself missing."""
    if item.asked_if is None:
        return True
    parent = inst.item(item.asked_if.item)
    parent_asked = _asked(inst, parent, answers)
    if parent_asked is False:
        return False
    answer = answers.get(parent.id)
    if answer is None:
        return None
    return answer is item.asked_if.answer


def asked_items(instrument: str | Instrument, answers: Mapping[str, Answer]) -> tuple[str, ...]:
    """The items these answers lead to (skip logic applied); forms show only these."""
    inst = _resolve(instrument)
    normalised = {item.id: _normalise(item, answers.get(item.id)) for item in inst.items}
    return tuple(item.id for item in inst.items if _asked(inst, item, normalised) is True)


def answers_from_list(instrument: str | Instrument, values: Sequence[Answer]) -> dict[str, Answer]:
    """Answers given in item order (the order of the paper form), as a mapping by item id."""
    inst = _resolve(instrument)
    if len(values) != len(inst.items):
        raise InvalidInput("answers", _count_rule(inst))
    return dict(zip(inst.item_ids, values, strict=True))


def _count_rule(inst: Instrument) -> str:
    return (
        f"must be {len(inst.items)} answers, one per item in order "
        f"({inst.items[0].id} to {inst.items[-1].id}); use - for an item not asked or not answered"
    )


_YES = frozenset({"y", "yes", "1"})
_NO = frozenset({"n", "no", "0"})
NOT_GIVEN = "-"


def parse_answer(item: Item, text: str) -> Answer:
    """One answer typed as text: a whole number, y/n/yes/no/1/0 for a yes/no item, or - for an
    item not asked (skip logic) or not answered. The range is checked when scoring."""
    word = text.strip().lower()
    if word == NOT_GIVEN:
        return None
    if item.kind is ItemKind.YES_NO:
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise InvalidInput(item.id, "must be yes or no (y, n, yes, no, 1 or 0), or -")
    if re.fullmatch(r"\d{1,4}", word):
        return int(word)
    raise InvalidInput(item.id, item.rule)


def answers_from_text(instrument: str | Instrument, words: Sequence[str]) -> dict[str, Answer]:
    inst = _resolve(instrument)
    if len(words) != len(inst.items):
        raise InvalidInput("answers", _count_rule(inst))
    return {item.id: parse_answer(item, word) for item, word in zip(inst.items, words, strict=True)}


def _context(inst: Instrument, context: Mapping[str, Any] | None) -> dict[str, bool]:
    given = dict(context or {})
    declared = {flag.id for flag in inst.context}
    for key, value in given.items():
        if key not in declared:
            raise InvalidInput(str(key), f"is not a setting of the {inst.short_name}")
        if not isinstance(value, bool):
            raise InvalidInput(key, "must be yes or no")
    for flag in inst.context:
        if flag.id not in given:
            raise InvalidInput(
                flag.id, f"must be given (yes or no): it chooses the {inst.short_name} bands"
            )
    return given


# ---------------------------------------------------------------------------------------------
# Scoring


def score(
    instrument: str | Instrument,
    answers: Mapping[str, Answer],
    *,
    context: Mapping[str, bool] | None = None,
) -> Score:
    """Score one administration. Raises InvalidInput (the first problem) for an unknown item,
    an answer out of range, an answer to an item skip logic leaves out, or a missing context
    setting; ``validate_answers`` lists them all."""
    inst = _resolve(instrument)
    if errors := validate_answers(inst, answers):
        raise errors[0]
    ctx = _context(inst, context)
    given = {item.id: _normalise(item, answers.get(item.id)) for item in inst.items}

    points: dict[str, int | None] = {}
    missing = []
    for item in inst.items:
        asked = _asked(inst, item, given)
        if given[item.id] is not None:
            points[item.id] = item.points(given[item.id])
        else:
            points[item.id] = None
            if asked is True:
                missing.append(item.id)
    # An item hanging on a missing answer is not counted as missing itself: the form is
    # incomplete already because of that earlier answer.
    complete = not missing and all(_asked(inst, item, given) is not None for item in inst.items)

    extra: dict[str, Any] = {}
    total = band = None
    subscales: dict[str, int | None] = {}
    if inst.scoring is Scoring.SUM:
        if complete:
            total = sum(value for value in points.values() if value is not None)
        band = _band(inst, ctx, total, extra)
        for subscale in inst.subscales:
            values = [points[item_id] for item_id in subscale.items]
            subscales[subscale.id] = None if None in values else sum(values)
        if inst.cutoffs:
            extra["cutoffs"] = {
                cutoff.id: None if total is None else total >= cutoff.at_least
                for cutoff in inst.cutoffs
            }
        if inst.report_mean_item_score:
            extra["mean_item_score"] = None if total is None else round(total / len(inst.items), 2)
        if inst.provisional_diagnosis is not None:
            extra.update(_provisional_diagnosis(inst, points, total))

    level = None
    if inst.scoring is Scoring.RISK_LEVELS:
        level = _risk_level(inst, given, complete)
        extra["risk_level"] = level.id if level else None
        extra["risk_level_label"] = level.label if level else None
        extra["risk_action"] = level.action if level else None
        # With answers missing, a level found from the yes answers is a floor: a missing
        # answer could only raise it.
        extra["risk_level_final"] = complete or (level is not None and level is inst.risk_levels[0])

    return Score(
        instrument=inst.id,
        version=inst.version,
        total=total,
        max_total=inst.max_total,
        band=band,
        subscales=MappingProxyType(subscales),
        item_scores=MappingProxyType(points),
        missing=tuple(missing),
        complete=complete,
        flags=_flags(inst, given, points, level),
        extra=MappingProxyType(extra),
    )


def _band(inst: Instrument, ctx: dict[str, bool], total: int | None, extra: dict) -> Band | None:
    band_set = inst.band_set_for(ctx)
    if band_set is None:
        return None
    extra["band_set"] = band_set.id
    return None if total is None else band_set.band_for(total)


def _provisional_diagnosis(
    inst: Instrument, points: Mapping[str, int | None], total: int | None
) -> dict[str, Any]:
    rule = inst.provisional_diagnosis
    by_rule = None
    if total is not None:
        by_rule = all(
            sum(
                1 for item_id in inst.subscale(cluster).items if points[item_id] >= rule.endorsed_at
            )
            >= needed
            for cluster, needed in rule.cluster_minimums.items()
        )
    return {
        "provisional_diagnosis_threshold": rule.threshold,
        "provisional_diagnosis_by_threshold": None if total is None else total >= rule.threshold,
        "provisional_diagnosis_by_dsm_rule": by_rule,
    }


def _risk_level(inst: Instrument, given: Mapping[str, Answer], complete: bool) -> RiskLevel | None:
    yes = {item_id for item_id, value in given.items() if value is True}
    for level in inst.risk_levels:
        if level.otherwise:
            return level if complete else None
        if yes.intersection(level.any_yes):
            return level
    return None


def _flags(
    inst: Instrument,
    given: Mapping[str, Answer],
    points: Mapping[str, int | None],
    level: RiskLevel | None,
) -> tuple[Flag, ...]:
    flags = []
    for rule in inst.flags:
        if rule.item is not None:
            value = points[rule.item]
            if value is not None and value >= rule.at_least:
                flags.append(Flag(rule.code, rule.urgent, rule.detail))
        elif any(given[item_id] is True for item_id in rule.any_yes):
            detail = f"{rule.detail} ({level.label})" if level else rule.detail
            flags.append(Flag(rule.code, rule.urgent, detail, level.id if level else None))
    return tuple(flags)
