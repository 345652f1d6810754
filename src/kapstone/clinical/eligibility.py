"""Eligibility screening for a KAP course: contraindications and precautions, with reasons.

    rules = eligibility.rule_set()                      # the newest shipped rule set
    rules = eligibility.rule_set("v1", overrides)       # with a clinic's changes
    result = eligibility.screen(ScreeningFacts(...), rules)
    result.outcome, result.reasons, result.unanswered, result.rule_set_version

The rules are reviewed data (``data/eligibility/<version>.toml``), each citing its source. The
facts come from the record and the instruments (the caller builds ``ScreeningFacts``); a fact
that is not known is reported as needing an answer, never passed over. The outcome is
``not_eligible`` when any contraindication is met, otherwise ``incomplete`` while any rule is
unanswered, otherwise ``eligible_with_precautions`` or ``eligible``. Only a prescriber can
override ``not_eligible``, with a written reason (``check_can_override``); recording and
auditing the override is the caller's. Pure Python.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from kapstone.access.roles import Role
from kapstone.clinical import instruments
from kapstone.clinical.icd10 import code_set
from kapstone.clinical.instruments.registry import DefinitionError, _Table
from kapstone.clinical.treatment_history import DrugClass
from kapstone.errors import InvalidInput, InvalidInputs

from . import versioned
from .gates import Refused, allowed, check_reason, check_role

DATA = "data/eligibility"
SEXES = ("female", "male", "intersex", "unknown")


class Kind(StrEnum):
    ABSOLUTE = "absolute"  # a contraindication: not eligible
    PRECAUTION = "precaution"  # eligible with precautions

    @property
    def label(self) -> str:
        return {"absolute": "Contraindication", "precaution": "Precaution"}[self.value]


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_PRECAUTIONS = "eligible_with_precautions"
    NOT_ELIGIBLE = "not_eligible"
    # No contraindication met, but some rule could not be checked: answer it first.
    INCOMPLETE = "incomplete"

    @property
    def label(self) -> str:
        return {
            "eligible": "Eligible",
            "eligible_with_precautions": "Eligible with precautions",
            "not_eligible": "Not eligible",
            "incomplete": "Incomplete: questions need an answer",
        }[self.value]


class Status(StrEnum):
    MET = "met"
    CLEAR = "clear"
    UNKNOWN = "unknown"


# ---------------------------------------------------------------------------------------------
# The rule set


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class Check:
    """One fact a rule looks at, and what about it meets the rule."""

    fact: str  # answers, diagnoses, allergies, medications, score, blood_pressure, escort
    questions: tuple[str, ...] = ()
    code_prefixes: tuple[str, ...] = ()
    substances: tuple[str, ...] = ()
    drug_classes: tuple[str, ...] = ()
    instrument: str | None = None
    at_least: int | None = None
    at_least_by_sex: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    bands: tuple[str, ...] = ()
    systolic_above: int | None = None
    diastolic_above: int | None = None

    @property
    def rule_text(self) -> str:
        """What meets this check, in words (never a patient's value)."""
        if self.fact == "answers":
            return "a yes to " + ", ".join(self.questions)
        if self.fact == "diagnoses":
            return "an active diagnosis in " + ", ".join(self.code_prefixes)
        if self.fact == "allergies":
            return "an active allergy to " + ", ".join(self.substances)
        if self.fact == "medications":
            return "a current medicine of class " + ", ".join(self.drug_classes)
        if self.fact == "score":
            name = instruments.get(self.instrument).short_name
            if self.bands:
                return f"{name} band {', '.join(self.bands)}"
            if self.at_least_by_sex:
                cuts = ", ".join(f"{sex} {n}" for sex, n in self.at_least_by_sex.items())
                return f"{name} total at or above the cut-off by sex at birth ({cuts})"
            return f"{name} total at or above {self.at_least}"
        if self.fact == "blood_pressure":
            return f"blood pressure above {self.systolic_above}/{self.diastolic_above} mmHg"
        return "no escort recorded"


@dataclass(frozen=True)
class Rule:
    id: str
    kind: Kind
    label: str
    source: str
    checks: tuple[Check, ...]
    enabled: bool = True
    clinic_setting: bool = False  # the clinic changed this rule from the shipped one

    @property
    def unconfirmed(self) -> bool:
        return self.source.startswith("no source") or "UNCONFIRMED" in self.source


@dataclass(frozen=True)
class RuleSet:
    version: str
    source: str
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @property
    def active(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    @property
    def clinic_changes(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules if rule.clinic_setting)


CHECK_FACTS = (
    "answers",
    "diagnoses",
    "allergies",
    "medications",
    "score",
    "blood_pressure",
    "escort",
)
# What a clinic may change in a rule: whether it applies, its kind, and its checks' thresholds.
# The label and source are the reviewed text.
OVERRIDABLE = frozenset({"enabled", "kind", *CHECK_FACTS})


def versions() -> tuple[str, ...]:
    """Shipped rule-set versions, oldest first."""
    return versioned.versions(DATA)


def rule_set(version: str | None = None, overrides: Mapping[str, Any] | None = None) -> RuleSet:
    """A rule set (the newest when no version is given) with a clinic's overrides merged in.

    Overrides have the file's shape under ``rules``, e.g.
    ``{"rules": {"no_escort": {"enabled": False}, "drug_use": {"score": {"bands": [...]}}}}``.
    An unknown rule, an unknown key or a key that is not the clinic's to change (a label or a
    source) is refused with DefinitionError; an unknown version with InvalidInput.
    """
    version, data, changed = versioned.load(
        DATA, version, overrides, field="rule_set_version", allowed={"rules": OVERRIDABLE}
    )
    rule_ids = frozenset(name.removeprefix("rules.") for name in changed)
    return parse(data, expected_version=version, changed=rule_ids)


def parse(
    data: Mapping[str, Any], *, expected_version: str | None = None, changed=frozenset()
) -> RuleSet:
    """Build a rule set from a parsed file, refusing anything that breaks the rules."""
    top = _Table(dict(data), "eligibility")
    version = top.required("version", str)
    if expected_version is not None and version != expected_version:
        raise DefinitionError(f"eligibility: version '{version}' is not the file's name")
    where = f"eligibility {version}"
    top.where = where
    source = top.required("source", str)

    questions_table = top.table("questions", required=True)
    questions = []
    for question_id in questions_table.data:
        entry = questions_table.table(question_id)
        questions.append(Question(question_id, entry.required("text", str)))
        entry.done()
    questions_table.done()
    question_ids = {q.id for q in questions}

    rules_table = top.table("rules", required=True)
    rules = []
    used_questions: set[str] = set()
    for rule_id in rules_table.data:
        entry = rules_table.table(rule_id)
        kind = entry.required("kind", str)
        if kind not in Kind.__members__.values():
            raise DefinitionError(f"{entry.where}.kind: must be absolute or precaution")
        checks = []
        for fact in CHECK_FACTS:
            table = entry.table(fact)
            if table is not None:
                check = _check(fact, table, question_ids)
                used_questions.update(check.questions)
                checks.append(check)
        if not checks:
            raise DefinitionError(f"{entry.where}: checks no fact ({', '.join(CHECK_FACTS)})")
        rules.append(
            Rule(
                id=rule_id,
                kind=Kind(kind),
                label=entry.required("label", str),
                source=entry.required("source", str),
                checks=tuple(checks),
                enabled=entry.optional("enabled", bool, True),
                clinic_setting=rule_id in changed,
            )
        )
        entry.done()
    rules_table.done()
    unused = sorted(question_ids - used_questions)
    if unused:
        raise DefinitionError(f"{where}: questions no rule uses: {', '.join(unused)}")
    top.done()
    return RuleSet(version, source, tuple(questions), tuple(rules), MappingProxyType(dict(data)))


def _strings(table: _Table, key: str) -> tuple[str, ...]:
    values = table.required(key, list)
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise DefinitionError(f"{table.where}.{key}: must be a list of text, not empty")
    return tuple(values)


def _check(fact: str, table: _Table, question_ids: set[str]) -> Check:
    where = table.where
    if fact == "answers":
        questions = _strings(table, "questions")
        unknown = [q for q in questions if q not in question_ids]
        if unknown:
            raise DefinitionError(f"{where}.questions: not a question: {', '.join(unknown)}")
        check = Check(fact, questions=questions)
    elif fact == "diagnoses":
        prefixes = tuple(p.upper() for p in _strings(table, "code_prefixes"))
        for prefix in prefixes:
            if not code_set.is_valid_item(prefix):
                raise DefinitionError(f"{where}.code_prefixes: {prefix} is not in ICD-10-CM")
        check = Check(fact, code_prefixes=prefixes)
    elif fact == "allergies":
        check = Check(fact, substances=tuple(s.casefold() for s in _strings(table, "substances")))
    elif fact == "medications":
        classes = _strings(table, "drug_classes")
        unknown = [c for c in classes if c not in DrugClass.__members__.values()]
        if unknown:
            raise DefinitionError(f"{where}.drug_classes: not a drug class: {', '.join(unknown)}")
        check = Check(fact, drug_classes=classes)
    elif fact == "score":
        check = _score_check(table)
    elif fact == "blood_pressure":
        systolic = table.required("systolic_above", int)
        diastolic = table.required("diastolic_above", int)
        if not 0 < diastolic < systolic:
            raise DefinitionError(f"{where}: limits must be positive, diastolic below systolic")
        check = Check(fact, systolic_above=systolic, diastolic_above=diastolic)
    else:
        if table.required("required", bool) is not True:
            raise DefinitionError(f"{where}.required: disable the rule instead")
        check = Check(fact)
    table.done()
    return check


def _score_check(table: _Table) -> Check:
    where = table.where
    instrument_id = table.required("instrument", str)
    if instrument_id not in instruments.ids():
        raise DefinitionError(f"{where}.instrument: not an instrument: {instrument_id}")
    inst = instruments.get(instrument_id)
    if inst.max_total is None:
        raise DefinitionError(f"{where}.instrument: {inst.short_name} has no total")
    in_range = range(inst.total_min or 0, inst.max_total + 1)
    bands = tuple(table.optional("bands", list, []))
    at_least = table.optional("at_least", (int, dict))
    if bool(bands) == (at_least is not None):
        raise DefinitionError(f"{where}: give either at_least or bands")
    if bands:
        known = {band.id for band_set in inst.band_sets for band in band_set.bands}
        if len(inst.band_sets) != 1 or not set(bands) <= known:
            raise DefinitionError(f"{where}.bands: must be band ids of the {inst.short_name}")
        return Check("score", instrument=instrument_id, bands=bands)
    if isinstance(at_least, int):
        if at_least not in in_range:
            raise DefinitionError(f"{where}.at_least: outside the {inst.short_name} range")
        return Check("score", instrument=instrument_id, at_least=at_least)
    for sex, cut in at_least.items():
        if sex not in (*SEXES, "otherwise"):
            raise DefinitionError(f"{where}.at_least: {sex} is not a sex at birth or 'otherwise'")
        if isinstance(cut, bool) or not isinstance(cut, int) or cut not in in_range:
            raise DefinitionError(f"{where}.at_least.{sex}: outside the {inst.short_name} range")
    return Check("score", instrument=instrument_id, at_least_by_sex=MappingProxyType(at_least))


# ---------------------------------------------------------------------------------------------
# The facts


@dataclass(frozen=True)
class BloodPressure:
    systolic: int
    diastolic: int


@dataclass(frozen=True)
class ScreeningFacts:
    """What screening knows about the patient. None means not known: a rule that needs it is
    reported as needing an answer. An empty tuple means known and empty (e.g. allergies: the
    record says no known allergies)."""

    diagnosis_codes: tuple[str, ...] | None = None  # active ICD-10-CM codes
    allergies: tuple[str, ...] | None = None  # active allergy substances
    current_drug_classes: tuple[str, ...] | None = None
    blood_pressure: BloodPressure | None = None  # the latest reading
    sex_at_birth: str | None = None
    scores: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    has_escort: bool | None = None
    answers: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))


def validate_facts(facts: ScreeningFacts, rules: RuleSet) -> list[InvalidInput]:
    """Every impossible fact, so a form can show them all at once."""
    errors = []
    question_ids = {q.id for q in rules.questions}
    for key, value in facts.answers.items():
        if key not in question_ids:
            errors.append(InvalidInput(str(key), f"is not a question of rule set {rules.version}"))
        elif value is not None and not isinstance(value, bool):
            errors.append(InvalidInput(key, "must be yes or no"))
    for instrument_id, total in facts.scores.items():
        if instrument_id not in instruments.ids():
            errors.append(InvalidInput(str(instrument_id), "is not an instrument"))
            continue
        inst = instruments.get(instrument_id)
        if total is None:
            continue
        if inst.max_total is None:
            errors.append(InvalidInput(instrument_id, f"the {inst.short_name} has no total"))
        elif type(total) is not int or not (inst.total_min or 0) <= total <= inst.max_total:
            errors.append(
                InvalidInput(
                    instrument_id,
                    f"must be a whole number from {inst.total_min or 0} to {inst.max_total}",
                )
            )
    if facts.sex_at_birth is not None and facts.sex_at_birth not in SEXES:
        errors.append(InvalidInput("sex_at_birth", f"must be one of {', '.join(SEXES)}"))
    bp = facts.blood_pressure
    if bp is not None:
        numbers = all(type(v) is int for v in (bp.systolic, bp.diastolic))
        if not numbers or not 0 < bp.diastolic < bp.systolic:
            errors.append(
                InvalidInput(
                    "blood_pressure",
                    "must be two whole numbers in mmHg, the diastolic below the systolic",
                )
            )
    if facts.has_escort is not None and not isinstance(facts.has_escort, bool):
        errors.append(InvalidInput("has_escort", "must be yes or no"))
    return errors


# ---------------------------------------------------------------------------------------------
# Screening


@dataclass(frozen=True)
class Finding:
    """One rule applied to the facts. ``needs`` names the facts without an answer."""

    rule_id: str
    kind: Kind
    status: Status
    label: str
    source: str
    met_by: tuple[str, ...]  # the checks that met the rule, in words
    needs: tuple[str, ...]
    clinic_setting: bool
    unconfirmed: bool


@dataclass(frozen=True)
class ScreeningResult:
    outcome: Outcome
    findings: tuple[Finding, ...]  # every enabled rule, in rule-set order
    rule_set_version: str
    clinic_changes: tuple[str, ...]  # rules the clinic changed from the shipped set

    @property
    def reasons(self) -> tuple[Finding, ...]:
        """Every rule met: contraindications first, then precautions."""
        met = [f for f in self.findings if f.status is Status.MET]
        return tuple(sorted(met, key=lambda f: f.kind is not Kind.ABSOLUTE))

    @property
    def contraindications(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.reasons if f.kind is Kind.ABSOLUTE)

    @property
    def precautions(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.reasons if f.kind is Kind.PRECAUTION)

    @property
    def unanswered(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status is Status.UNKNOWN)

    @property
    def needs(self) -> tuple[str, ...]:
        """The facts to answer, each once, in rule order."""
        seen: dict[str, None] = {}
        for finding in self.unanswered:
            seen.update(dict.fromkeys(finding.needs))
        return tuple(seen)


def screen(facts: ScreeningFacts, rules: RuleSet | None = None) -> ScreeningResult:
    """Apply every enabled rule. Raises InvalidInputs listing every impossible fact."""
    rules = rules or rule_set()
    if errors := validate_facts(facts, rules):
        raise InvalidInputs(errors)
    findings = tuple(_apply(rule, facts) for rule in rules.active)
    if any(f.status is Status.MET and f.kind is Kind.ABSOLUTE for f in findings):
        outcome = Outcome.NOT_ELIGIBLE
    elif any(f.status is Status.UNKNOWN for f in findings):
        outcome = Outcome.INCOMPLETE
    elif any(f.status is Status.MET for f in findings):
        outcome = Outcome.ELIGIBLE_WITH_PRECAUTIONS
    else:
        outcome = Outcome.ELIGIBLE
    return ScreeningResult(outcome, findings, rules.version, rules.clinic_changes)


def _apply(rule: Rule, facts: ScreeningFacts) -> Finding:
    met, needs = [], []
    for check in rule.checks:
        status, missing = _evaluate(check, facts)
        if status is Status.MET:
            met.append(check.rule_text)
        elif status is Status.UNKNOWN:
            needs.extend(missing)
    status = Status.MET if met else Status.UNKNOWN if needs else Status.CLEAR
    return Finding(
        rule_id=rule.id,
        kind=rule.kind,
        status=status,
        label=rule.label,
        source=rule.source,
        met_by=tuple(met),
        # Once a rule is met, what else it could ask changes nothing.
        needs=() if met else tuple(dict.fromkeys(needs)),
        clinic_setting=rule.clinic_setting,
        unconfirmed=rule.unconfirmed,
    )


def _evaluate(check: Check, facts: ScreeningFacts) -> tuple[Status, tuple[str, ...]]:
    if check.fact == "answers":
        given = [facts.answers.get(q) for q in check.questions]
        if any(answer is True for answer in given):
            return Status.MET, ()
        missing = tuple(
            q for q, answer in zip(check.questions, given, strict=True) if answer is None
        )
        return (Status.UNKNOWN, missing) if missing else (Status.CLEAR, ())
    if check.fact == "diagnoses":
        if facts.diagnosis_codes is None:
            return Status.UNKNOWN, ("diagnosis_codes",)
        codes = [code.strip().upper() for code in facts.diagnosis_codes]
        hit = any(code.startswith(check.code_prefixes) for code in codes)
        return (Status.MET if hit else Status.CLEAR), ()
    if check.fact == "allergies":
        if facts.allergies is None:
            return Status.UNKNOWN, ("allergies",)
        named = [substance.casefold() for substance in facts.allergies]
        hit = any(term in substance for substance in named for term in check.substances)
        return (Status.MET if hit else Status.CLEAR), ()
    if check.fact == "medications":
        if facts.current_drug_classes is None:
            return Status.UNKNOWN, ("current_drug_classes",)
        hit = bool(set(facts.current_drug_classes) & set(check.drug_classes))
        return (Status.MET if hit else Status.CLEAR), ()
    if check.fact == "score":
        return _evaluate_score(check, facts)
    if check.fact == "blood_pressure":
        bp = facts.blood_pressure
        if bp is None:
            return Status.UNKNOWN, ("blood_pressure",)
        hit = bp.systolic > check.systolic_above or bp.diastolic > check.diastolic_above
        return (Status.MET if hit else Status.CLEAR), ()
    if facts.has_escort is None:
        return Status.UNKNOWN, ("has_escort",)
    return (Status.CLEAR if facts.has_escort else Status.MET), ()


def _evaluate_score(check: Check, facts: ScreeningFacts) -> tuple[Status, tuple[str, ...]]:
    total = facts.scores.get(check.instrument)
    if total is None:
        return Status.UNKNOWN, (check.instrument,)
    if check.bands:
        (band_set,) = instruments.get(check.instrument).band_sets
        hit = band_set.band_for(total).id in check.bands
        return (Status.MET if hit else Status.CLEAR), ()
    cut = check.at_least
    if check.at_least_by_sex:
        by_sex = check.at_least_by_sex
        cut = by_sex.get(facts.sex_at_birth or "", by_sex.get("otherwise"))
        if cut is None:
            return Status.UNKNOWN, ("sex_at_birth",)
    return (Status.MET if total >= cut else Status.CLEAR), ()


# ---------------------------------------------------------------------------------------------
# Overriding 'not eligible'

OVERRIDERS = frozenset({Role.PRESCRIBER})


def check_can_override(
    outcome: Outcome | str, roles: Iterable[Role | str], reason: str | None
) -> str:
    """Refuse unless the outcome is 'not eligible', the user is a prescriber and a reason is
    written. Returns the reason, trimmed, for the audit event the caller records."""
    if Outcome(outcome) is not Outcome.NOT_ELIGIBLE:
        raise Refused("outcome", "only a 'not eligible' outcome can be overridden")
    check_role("roles", roles, OVERRIDERS, "override 'not eligible'")
    return check_reason("reason", reason, "override 'not eligible'")


def can_override(
    outcome: Outcome | str, roles: Iterable[Role | str], reason: str | None = None
) -> bool:
    """For a template: without a reason, whether to offer the override at all."""
    if reason is None:
        return Outcome(outcome) is Outcome.NOT_ELIGIBLE and allowed(
            check_role, "roles", roles, OVERRIDERS, "override"
        )
    return allowed(check_can_override, outcome, roles, reason)
