"""Measurement-based care: rating-scale definitions, scoring and change over a course.

    from kapstone.clinical import instruments
    result = instruments.score("gad7", {"q1": 0, "q2": 1, ...})
    result.total, result.band, result.flags

Definitions are reviewed data files (``definitions/<id>.toml``), each value citing the section
of the clinical reference it comes from. Pure Python: storage, pages, alerts and FHIR export
call this package; it calls none of them.
"""

from .definition import (
    Band,
    BandSet,
    ContextFlag,
    Cutoff,
    FlagRule,
    Instrument,
    Item,
    ItemKind,
    Licence,
    Option,
    OutcomeRules,
    ProvisionalDiagnosis,
    RatedBy,
    RiskLevel,
    Scoring,
    Subscale,
)
from .outcomes import Course, FollowUp, compare, course, outcome_rules
from .registry import DefinitionError, all_instruments, get, ids, parse, with_overrides
from .scoring import (
    Flag,
    Score,
    answers_from_list,
    answers_from_text,
    asked_items,
    parse_answer,
    score,
    validate_answers,
)

__all__ = [
    "Band",
    "BandSet",
    "ContextFlag",
    "Course",
    "Cutoff",
    "DefinitionError",
    "Flag",
    "FlagRule",
    "FollowUp",
    "Instrument",
    "Item",
    "ItemKind",
    "Licence",
    "Option",
    "OutcomeRules",
    "ProvisionalDiagnosis",
    "RatedBy",
    "RiskLevel",
    "Score",
    "Scoring",
    "Subscale",
    "all_instruments",
    "answers_from_list",
    "answers_from_text",
    "asked_items",
    "compare",
    "course",
    "get",
    "ids",
    "outcome_rules",
    "parse",
    "parse_answer",
    "score",
    "validate_answers",
    "with_overrides",
]
