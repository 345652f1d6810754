"""The anxiety's presentation: how far it is cognitive, somatic or behavioral, and the
integration modalities that profile suggests, each with its reason.

    inputs = presentation.inputs_from_scores([hama_score, pdss_score], checklist={...})
    result = presentation.profile(inputs)
    result.domains        # extent and share of each domain, with how each was derived
    result.suggestions    # modalities with their reasons: for the clinician to weigh

Each domain's extent is the mean of its measures (an instrument total or subscale as a
fraction of its maximum) and its checklist item; its share is its extent over the sum of
extents, in whole percent adding to 100. The weights, the measures chosen and the modality
rules are Kapstone's convention (``data/presentation.toml``): clinical-facts.md has no source
for them, and the profile says so. A suggestion is never a decision: the plan records the
modalities the clinician chooses. Pure Python.
"""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from kapstone.clinical import instruments
from kapstone.clinical.instruments import Score
from kapstone.clinical.instruments.registry import DefinitionError, _Table
from kapstone.clinical.treatment_history import PsychotherapyModality
from kapstone.errors import InvalidInput, InvalidInputs

DOMAINS = ("cognitive", "somatic", "behavioral")


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    label: str
    domain: str | None


@dataclass(frozen=True)
class Domain:
    id: str
    label: str
    measures: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class SuggestionRule:
    modality: PsychotherapyModality
    reason: str
    source: str
    checklist: tuple[str, ...] = ()
    leads: str | None = None
    instrument: str | None = None
    threshold: str | None = None  # a named threshold in the instrument's definition


@dataclass(frozen=True)
class Rules:
    version: str
    source: str
    checklist: tuple[ChecklistItem, ...]
    domains: tuple[Domain, ...]
    suggestions: tuple[SuggestionRule, ...]


# ---------------------------------------------------------------------------------------------
# Loading


def measure_maximum(measure: str) -> int:
    """The highest value a measure can take, from the instrument's definition."""
    instrument_id, _, subscale_id = measure.partition(".")
    if instrument_id not in instruments.ids():
        raise KeyError(measure)
    inst = instruments.get(instrument_id)
    if not subscale_id:
        if inst.max_total is None:
            raise KeyError(measure)
        return inst.max_total
    subscale = inst.subscale(subscale_id)
    return sum(inst.item(item_id).max_points for item_id in subscale.items)


def measure_label(measure: str) -> str:
    instrument_id, _, subscale_id = measure.partition(".")
    inst = instruments.get(instrument_id)
    if not subscale_id:
        return f"{inst.short_name} total"
    return f"{inst.short_name} {inst.subscale(subscale_id).label.lower()}"


@cache
def rules() -> Rules:
    text = resources.files("kapstone.clinical").joinpath("data/presentation.toml").read_text()
    return parse(tomllib.loads(text))


def parse(data: Mapping[str, Any]) -> Rules:
    top = _Table(dict(data), "presentation")
    version = top.required("version", str)
    source = top.required("source", str)

    checklist_table = top.table("checklist", required=True)
    checklist = []
    for item_id in checklist_table.data:
        entry = checklist_table.table(item_id)
        domain = entry.optional("domain", str)
        if domain is not None and domain not in DOMAINS:
            raise DefinitionError(f"{entry.where}.domain: must be one of {', '.join(DOMAINS)}")
        checklist.append(ChecklistItem(item_id, entry.required("label", str), domain))
        entry.done()
    checklist_table.done()
    item_ids = {item.id for item in checklist}

    domains_table = top.table("domains", required=True)
    if list(domains_table.data) != list(DOMAINS):
        raise DefinitionError(f"presentation.domains: must be {', '.join(DOMAINS)}, in order")
    domains = []
    for domain_id in DOMAINS:
        entry = domains_table.table(domain_id)
        measures = tuple(entry.required("measures", list))
        for measure in measures:
            try:
                measure_maximum(measure)
            except KeyError:
                raise DefinitionError(
                    f"{entry.where}.measures: {measure} is not a measure"
                ) from None
        domains.append(
            Domain(domain_id, entry.required("label", str), measures, entry.required("source", str))
        )
        entry.done()
    domains_table.done()

    suggestions = []
    for entry in top.tables("suggestions"):
        suggestions.append(_suggestion(entry, item_ids))
        entry.done()
    top.done()
    return Rules(version, source, tuple(checklist), tuple(domains), tuple(suggestions))


def _suggestion(entry: _Table, item_ids: set[str]) -> SuggestionRule:
    where = entry.where
    modality = entry.required("modality", str)
    if modality not in PsychotherapyModality.__members__.values():
        raise DefinitionError(f"{where}.modality: not a psychotherapy modality")
    checklist = tuple(entry.optional("checklist", list, []))
    if not set(checklist) <= item_ids:
        raise DefinitionError(f"{where}.checklist: not a checklist item")
    leads = entry.optional("leads", str)
    if leads is not None and leads not in DOMAINS:
        raise DefinitionError(f"{where}.leads: must be one of {', '.join(DOMAINS)}")
    instrument = entry.optional("instrument", str)
    threshold = entry.optional("threshold", str)
    if (instrument is None) != (threshold is None):
        raise DefinitionError(f"{where}: instrument and threshold go together")
    if instrument is not None:
        try:
            _threshold(instrument, threshold)
        except (KeyError, AttributeError):
            raise DefinitionError(f"{where}.threshold: not a threshold of {instrument}") from None
    if not (checklist or leads or instrument):
        raise DefinitionError(f"{where}: has no trigger (checklist, leads or instrument)")
    return SuggestionRule(
        modality=PsychotherapyModality(modality),
        reason=entry.required("reason", str),
        source=entry.required("source", str),
        checklist=checklist,
        leads=leads,
        instrument=instrument,
        threshold=threshold,
    )


def _threshold(instrument_id: str, name: str) -> int:
    """A named threshold from the instrument's definition, so a clinic's override of it (made
    there) applies here too."""
    inst = instruments.get(instrument_id)
    if name == "provisional_diagnosis":
        return inst.provisional_diagnosis.threshold
    for cutoff in inst.cutoffs:
        if cutoff.id == name:
            return cutoff.at_least
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class PresentationInputs:
    """Measures by name ("pdss", "hama.psychic") and the clinician's checklist. A measure or
    checklist item left out is not known and counts for nothing; an unticked item is a no."""

    measures: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    checklist: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))


def inputs_from_scores(
    scores: Iterable[Score], checklist: Mapping[str, bool] | None = None
) -> PresentationInputs:
    """Totals and subscales of complete scores (the latest of each instrument, by the caller)."""
    measures: dict[str, int] = {}
    for score in scores:
        if score.total is not None:
            measures[score.instrument] = score.total
        for subscale_id, value in score.subscales.items():
            if value is not None:
                measures[f"{score.instrument}.{subscale_id}"] = value
    return PresentationInputs(MappingProxyType(measures), MappingProxyType(dict(checklist or {})))


def check_ticked(ticked: Iterable[str], rule_set: Rules) -> tuple[str, ...]:
    """The ticked checklist ids in the checklist's order, each once; InvalidInput naming
    ``ticked`` when one is not an item of this checklist."""
    order = [item.id for item in rule_set.checklist]
    chosen = set()
    for item_id in ticked:
        if not isinstance(item_id, str) or item_id not in order:
            raise InvalidInput("ticked", "must be items of the presentation checklist")
        chosen.add(item_id)
    return tuple(item_id for item_id in order if item_id in chosen)


def checklist_from_ticks(
    ticked: Iterable[str], ticked_under: str, rule_set: Rules
) -> dict[str, bool]:
    """A reviewed checklist as inputs: under the same rules version every item is answered
    (unticked is a no). A review under another version asked other items: only its ticks
    still on the checklist count, and the rest stay not known rather than a no nobody gave."""
    known = {item.id for item in rule_set.checklist}
    chosen = {item_id for item_id in ticked if item_id in known}
    if ticked_under != rule_set.version:
        return {item.id: True for item in rule_set.checklist if item.id in chosen}
    return {item.id: item.id in chosen for item in rule_set.checklist}


def validate_inputs(inputs: PresentationInputs, rules: Rules) -> list[InvalidInput]:
    errors = []
    for measure, value in inputs.measures.items():
        try:
            maximum = measure_maximum(measure)
        except KeyError:
            errors.append(InvalidInput(str(measure), "is not an instrument total or subscale"))
            continue
        if type(value) is not int or not 0 <= value <= maximum:
            errors.append(InvalidInput(measure, f"must be a whole number from 0 to {maximum}"))
    item_ids = {item.id for item in rules.checklist}
    for item_id, ticked in inputs.checklist.items():
        if item_id not in item_ids:
            errors.append(InvalidInput(str(item_id), "is not a checklist item"))
        elif not isinstance(ticked, bool):
            errors.append(InvalidInput(item_id, "must be yes or no"))
    return errors


# ---------------------------------------------------------------------------------------------
# Profile


@dataclass(frozen=True)
class Contribution:
    """One measure or checklist item behind a domain's extent."""

    measure: str
    label: str
    value: int
    maximum: int
    checklist: bool = False  # a ticked (1) or unticked (0) checklist item

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.value, self.maximum)


@dataclass(frozen=True)
class DomainExtent:
    domain: str
    label: str
    extent: Fraction | None  # 0 to 1; None when nothing about this domain is known
    percent: int | None  # share of the profile; None when no domain shows any anxiety
    contributions: tuple[Contribution, ...]
    source: str

    @property
    def derivation(self) -> str:
        if not self.contributions:
            return "Nothing known: no measure or checklist item"
        parts = [
            f"{c.label}: {'yes' if c.value else 'no'}"
            if c.checklist
            else f"{c.label} {c.value} of {c.maximum}"
            for c in self.contributions
        ]
        return "Mean of " + "; ".join(parts)


@dataclass(frozen=True)
class Reason:
    text: str
    source: str


@dataclass(frozen=True)
class Suggestion:
    """A modality the profile points to, with every reason. For the clinician to weigh."""

    modality: PsychotherapyModality
    reasons: tuple[Reason, ...]

    @property
    def label(self) -> str:
        return self.modality.label


@dataclass(frozen=True)
class Profile:
    domains: tuple[DomainExtent, ...]
    leading: tuple[str, ...]  # the domain(s) with the largest extent; () when none shows any
    features: Mapping[str, bool | None]  # trauma origin, intrusive imagery, parts language
    suggestions: tuple[Suggestion, ...]
    rules_version: str
    source: str

    def domain(self, domain_id: str) -> DomainExtent:
        return next(d for d in self.domains if d.domain == domain_id)


def profile(inputs: PresentationInputs, rule_set: Rules | None = None) -> Profile:
    """Raises InvalidInputs listing every impossible measure or unknown checklist item."""
    rule_set = rule_set or rules()
    if errors := validate_inputs(inputs, rule_set):
        raise InvalidInputs(errors)
    extents = []
    for domain in rule_set.domains:
        contributions = [
            Contribution(m, measure_label(m), inputs.measures[m], measure_maximum(m))
            for m in domain.measures
            if m in inputs.measures
        ]
        for item in rule_set.checklist:
            if item.domain == domain.id and item.id in inputs.checklist:
                contributions.append(
                    Contribution(
                        item.id, item.label, int(inputs.checklist[item.id]), 1, checklist=True
                    )
                )
        extent = None
        if contributions:
            extent = sum((c.fraction for c in contributions), Fraction(0)) / len(contributions)
        extents.append((domain, extent, tuple(contributions)))

    known = [extent for _, extent, _ in extents if extent is not None]
    percents = _percentages([e for _, e, _ in extents])
    top = max(known, default=Fraction(0))
    leading = tuple(d.id for d, extent, _ in extents if top > 0 and extent == top)
    domains = tuple(
        DomainExtent(d.id, d.label, extent, percent, contributions, d.source)
        for (d, extent, contributions), percent in zip(extents, percents, strict=True)
    )
    features = {
        item.id: inputs.checklist.get(item.id) for item in rule_set.checklist if item.domain is None
    }
    return Profile(
        domains=domains,
        leading=leading,
        features=MappingProxyType(features),
        suggestions=_suggest(rule_set, inputs, leading),
        rules_version=rule_set.version,
        source=rule_set.source,
    )


def _percentages(extents: list[Fraction | None]) -> list[int | None]:
    """Whole percentages adding to 100 (largest remainder), or None where nothing is known or
    no domain shows any anxiety."""
    total = sum((e for e in extents if e is not None), Fraction(0))
    if total == 0:
        return [None] * len(extents)
    exact = [None if e is None else e * 100 / total for e in extents]
    floors = [None if x is None else int(x) for x in exact]
    left = 100 - sum(f for f in floors if f is not None)
    order = sorted(
        (i for i, x in enumerate(exact) if x is not None),
        key=lambda i: (-(exact[i] - floors[i]), i),
    )
    for i in order[:left]:
        floors[i] += 1
    return floors


def _suggest(
    rule_set: Rules, inputs: PresentationInputs, leading: tuple[str, ...]
) -> tuple[Suggestion, ...]:
    reasons: dict[PsychotherapyModality, list[Reason]] = {}
    for rule in rule_set.suggestions:
        fired = any(inputs.checklist.get(item) is True for item in rule.checklist)
        fired = fired or (rule.leads is not None and rule.leads in leading)
        if rule.instrument is not None:
            total = inputs.measures.get(rule.instrument)
            fired = fired or (
                total is not None and total >= _threshold(rule.instrument, rule.threshold)
            )
        if fired:
            reasons.setdefault(rule.modality, []).append(Reason(rule.reason, rule.source))
    return tuple(Suggestion(modality, tuple(found)) for modality, found in reasons.items())
