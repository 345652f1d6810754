"""What an instrument is, as the reviewed definition files describe it.

Frozen dataclasses only; ``registry`` builds them from ``definitions/<id>.toml`` and refuses a
file that breaks the rules. Every threshold here carries the source it came from, so a page can
show where a number comes from and whether the clinical reference confirms it. Pure Python.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

UNCONFIRMED = "UNCONFIRMED"


class RatedBy(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


class ItemKind(StrEnum):
    SCALE = "scale"  # a whole number from min to max
    YES_NO = "yes_no"


class Scoring(StrEnum):
    SUM = "sum"  # total = sum of item points
    # No total: the answers decide a risk level by the first matching rule (C-SSRS screener).
    RISK_LEVELS = "risk_levels"


@dataclass(frozen=True)
class Option:
    value: int | bool
    label: str
    loinc: str | None = None  # LOINC answer code (LA…), where the reference gives one


@dataclass(frozen=True)
class AskedIf:
    """Skip logic: the item is asked only when an earlier yes/no item has this answer."""

    item: str
    answer: bool


@dataclass(frozen=True)
class Item:
    id: str
    # A short label. For a licensed scale it is neutral ("Item 4"): the wording stays on the
    # clinic's licensed form.
    label: str
    text: str | None  # the published wording; only where the licence lets it ship
    kind: ItemKind
    min: int
    max: int
    options: tuple[Option, ...]
    reverse: bool = False
    loinc: str | None = None
    asked_if: AskedIf | None = None

    @property
    def answers(self) -> tuple[int | bool, ...]:
        """Every allowed answer, from the fewest points to the most."""
        if self.kind is ItemKind.YES_NO:
            return (True, False) if self.reverse else (False, True)
        values = tuple(range(self.min, self.max + 1))
        return tuple(reversed(values)) if self.reverse else values

    @property
    def max_points(self) -> int:
        return 1 if self.kind is ItemKind.YES_NO else self.max

    @property
    def min_points(self) -> int:
        return 0 if self.kind is ItemKind.YES_NO else self.min

    def points(self, answer: int | bool) -> int:
        """Points an (already validated) answer adds to the total."""
        if self.kind is ItemKind.YES_NO:
            return int(bool(answer) != self.reverse)
        return self.max + self.min - int(answer) if self.reverse else int(answer)

    def option(self, answer: int | bool) -> Option | None:
        for option in self.options:
            if option.value == answer and type(option.value) is type(answer):
                return option
        return None

    @property
    def rule(self) -> str:
        """The answer rule in words, for error messages."""
        if self.kind is ItemKind.YES_NO:
            return "must be yes or no"
        return f"must be a whole number from {self.min} to {self.max}"


@dataclass(frozen=True)
class Band:
    id: str
    label: str
    min: int
    max: int
    note: str | None = None  # what the source says to do in this band, where it says
    # A convention, not a validated band (the page should say so).
    convention: bool = False

    def contains(self, total: int) -> bool:
        return self.min <= total <= self.max


@dataclass(frozen=True)
class BandSet:
    """One set of severity bands; ``when`` picks it by the score's context (PDSS agoraphobia)."""

    id: str
    bands: tuple[Band, ...]
    source: str
    when: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    convention: bool = False

    def band_for(self, total: int) -> Band:
        for band in self.bands:
            if band.contains(total):
                return band
        raise ValueError("total outside the instrument's range")  # the loader rules this out

    def applies(self, context: Mapping[str, bool]) -> bool:
        return all(context.get(key) is value for key, value in self.when.items())


@dataclass(frozen=True)
class Subscale:
    id: str
    label: str
    items: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Cutoff:
    """A screening cut-off: the total is at or above it."""

    id: str
    label: str
    at_least: int
    source: str


@dataclass(frozen=True)
class FlagRule:
    """When a flag is raised. Flags look at the answers given, complete or not: a positive
    answer on a half-finished form still needs a person to see it."""

    code: str
    urgent: bool
    detail: str
    source: str
    item: str | None = None  # raised when this item's points are at least ``at_least``
    at_least: int | None = None
    any_yes: tuple[str, ...] = ()  # or when any of these yes/no items is yes


@dataclass(frozen=True)
class RiskLevel:
    """One rung of a risk triage. Levels are tried in order; the first that matches wins."""

    id: str
    label: str
    source: str
    any_yes: tuple[str, ...] = ()
    otherwise: bool = False  # the level when no earlier rule matched
    action: str | None = None


@dataclass(frozen=True)
class ProvisionalDiagnosis:
    """PCL-5: a provisional PTSD diagnosis by total threshold, and by the DSM-5 cluster rule."""

    threshold: int
    threshold_source: str
    endorsed_at: int  # an item counts as an endorsed symptom at this rating or above
    cluster_minimums: Mapping[str, int]  # subscale id -> endorsed items needed
    rule_source: str


@dataclass(frozen=True)
class OutcomeRules:
    """What counts as meaningful change, response, remission and relapse for one instrument.
    Higher totals mean more symptoms for every instrument that has these rules."""

    instrument: str
    sources: Mapping[str, str]
    mcid: int | None = None  # minimal clinically important difference, in points
    reliable_change: int | None = None
    response_reduction_percent: int | None = None
    response_inclusive: bool = True  # "at least" the reduction (False: "more than")
    remission_below: int | None = None
    relapse_rise: int | None = None  # points above the lowest total since baseline

    def is_unconfirmed(self, rule: str) -> bool:
        """True when the reference marks the rule UNCONFIRMED or gives it no source at all:
        a page should say the number is a convention the clinic has to confirm."""
        source = self.sources.get(rule, "")
        return UNCONFIRMED in source or source.startswith("none")


@dataclass(frozen=True)
class ContextFlag:
    """A fact about the patient, not an item, that scoring needs (PDSS: agoraphobia)."""

    id: str
    label: str
    source: str


@dataclass(frozen=True)
class Licence:
    status: str
    text_may_ship: bool
    source: str


@dataclass(frozen=True)
class MissingItems:
    rule: str  # "no_total": no total (nor band) while any asked item is unanswered
    note: str


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    short_name: str
    version: str
    rated_by: RatedBy
    recall_period: str
    source: str
    licence: Licence
    items: tuple[Item, ...]
    scoring: Scoring
    missing_items: MissingItems
    total_min: int | None = None
    total_max: int | None = None
    stem: str | None = None  # the question above the items, where the text may ship
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_source: str | None = None
    band_sets: tuple[BandSet, ...] = ()
    no_bands_reason: str | None = None
    subscales: tuple[Subscale, ...] = ()
    cutoffs: tuple[Cutoff, ...] = ()
    flags: tuple[FlagRule, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()
    provisional_diagnosis: ProvisionalDiagnosis | None = None
    outcomes: OutcomeRules | None = None
    context: tuple[ContextFlag, ...] = ()
    report_mean_item_score: bool = False
    # The parsed file, so clinic overrides can be merged into it and checked again.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def max_total(self) -> int | None:
        return self.total_max if self.scoring is Scoring.SUM else None

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def band_set_for(self, context: Mapping[str, bool]) -> BandSet | None:
        for band_set in self.band_sets:
            if band_set.applies(context):
                return band_set
        return None

    def subscale(self, subscale_id: str) -> Subscale:
        for subscale in self.subscales:
            if subscale.id == subscale_id:
                return subscale
        raise KeyError(subscale_id)
