"""Load the instrument definitions and refuse any that break the rules.

Each instrument is a reviewed TOML file in ``definitions/``. A file with a gap between bands, a
subscale naming an item that does not exist, a malformed LOINC code or an unknown key stops the
load with a message naming the file and the place: a scoring rule that is silently half-read
would put a wrong severity on a chart. Clinics may override the thresholds (outcomes,
provisional diagnosis, cut-offs); the merged definition is checked again. Pure Python.
"""

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from kapstone.clinical.config import merge
from kapstone.errors import InvalidInput

from .definition import (
    AskedIf,
    Band,
    BandSet,
    ContextFlag,
    Cutoff,
    FlagRule,
    Instrument,
    Item,
    ItemKind,
    Licence,
    MissingItems,
    Option,
    OutcomeRules,
    ProvisionalDiagnosis,
    RatedBy,
    RiskLevel,
    Scoring,
    Subscale,
)

LOINC_CODE = re.compile(r"\d+-\d")
LOINC_ANSWER = re.compile(r"LA\d+-\d")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
# A licensed scale's items carry no wording: a label like "Item 4" or "Item 6 follow-up".
NEUTRAL_LABEL = re.compile(r"Item \d+( [a-z0-9 ()-]+)?")

# What a clinic may change. The items, ranges and bands are the instrument; thresholds are
# the clinic's policy.
OVERRIDABLE = ("outcomes", "provisional_diagnosis", "cutoffs")

# The only missing-item rule: the reference gives no published prorating rule for any of these
# instruments, so a total is only ever the sum of every item.
MISSING_ITEM_RULES = ("no_total",)


class DefinitionError(ValueError):
    """A definition file that breaks the rules: refused at load, never half-used."""


class _Table:
    """Read one TOML table, refusing unknown keys so a misspelt key cannot pass unnoticed."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise DefinitionError(f"{where}: must be a table")
        self.data = data
        self.where = where
        self.seen: set[str] = set()

    def _check(self, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to Python; a threshold of `true` is a typo, not a 1.
        if isinstance(value, bool) and bool not in kinds:
            raise DefinitionError(f"{self.where}.{key}: must be {_kind_name(kinds)}")
        if not isinstance(value, kinds):
            raise DefinitionError(f"{self.where}.{key}: must be {_kind_name(kinds)}")
        if isinstance(value, str) and not value.strip():
            raise DefinitionError(f"{self.where}.{key}: must not be empty")
        return value

    def required(self, key: str, kind: type | tuple[type, ...]) -> Any:
        self.seen.add(key)
        if key not in self.data:
            raise DefinitionError(f"{self.where}: missing '{key}'")
        return self._check(key, self.data[key], kind)

    def optional(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        return self._check(key, self.data[key], kind)

    def table(self, key: str, required: bool = False) -> "_Table | None":
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise DefinitionError(f"{self.where}: missing [{key}]")
            return None
        return _Table(self.data[key], f"{self.where}.{key}")

    def tables(self, key: str) -> list["_Table"]:
        self.seen.add(key)
        entries = self.data.get(key, [])
        if not isinstance(entries, list):
            raise DefinitionError(f"{self.where}.{key}: must be a list of tables")
        return [_Table(entry, f"{self.where}.{key}[{i}]") for i, entry in enumerate(entries)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise DefinitionError(f"{self.where}: unknown key(s) {', '.join(unknown)}")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "a whole number", str: "text", bool: "true or false", list: "a list"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _loinc(value: str | None, where: str, pattern: re.Pattern = LOINC_CODE) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise DefinitionError(f"{where}: '{value}' is not a LOINC code ({pattern.pattern})")
    return value


def _enum(kind: type, value: str, where: str):
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise DefinitionError(f"{where}: must be one of {allowed}") from None


def _identifier(value: str, where: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise DefinitionError(f"{where}: '{value}' must be lower case letters, digits and _")
    return value


def _strings(values: list, where: str) -> tuple[str, ...]:
    if not all(isinstance(value, str) for value in values):
        raise DefinitionError(f"{where}: must be a list of text")
    return tuple(values)


# ---------------------------------------------------------------------------------------------
# Parsing


def _options(entries: list[_Table], kind: ItemKind) -> tuple[Option, ...]:
    options = []
    for entry in entries:
        value = entry.required("value", bool if kind is ItemKind.YES_NO else int)
        option = Option(
            value=value,
            label=entry.required("label", str),
            loinc=_loinc(entry.optional("loinc", str), f"{entry.where}.loinc", LOINC_ANSWER),
        )
        entry.done()
        options.append(option)
    return tuple(options)


def _answer_scale(table: _Table | None, where: str) -> dict[str, Any]:
    """The answer scale shared by every item, which an item may replace with its own."""
    if table is None:
        return {}
    kind = _enum(ItemKind, table.optional("kind", str, "scale"), f"{where}.answers.kind")
    scale: dict[str, Any] = {"kind": kind}
    if kind is ItemKind.SCALE:
        scale["min"] = table.required("min", int)
        scale["max"] = table.required("max", int)
    scale["options"] = _options(table.tables("options"), kind)
    table.optional("source", str)
    table.done()
    return scale


def _item(entry: _Table, shared: dict[str, Any]) -> Item:
    item_id = _identifier(entry.required("id", str), f"{entry.where}.id")
    kind = _enum(ItemKind, entry.optional("kind", str, shared.get("kind", "scale")), entry.where)
    if kind is ItemKind.YES_NO:
        low, high = 0, 1
    else:
        low = entry.optional("min", int, shared.get("min"))
        high = entry.optional("max", int, shared.get("max"))
        if low is None or high is None:
            raise DefinitionError(f"{entry.where}: needs min and max (or an [answers] scale)")
    own = entry.tables("options")
    if own:
        options = _options(own, kind)
    else:
        options = shared.get("options", ()) if shared.get("kind") == kind else ()
    if kind is ItemKind.YES_NO and not options:
        options = (Option(True, "Yes"), Option(False, "No"))
    if kind is ItemKind.SCALE and not options:
        # A licensed scale ships no anchor wording: the number is the label.
        options = tuple(Option(value, str(value)) for value in range(low, high + 1))
    asked_if = None
    if condition := entry.table("asked_if"):
        asked_if = AskedIf(condition.required("item", str), condition.required("answer", bool))
        condition.done()
    item = Item(
        id=item_id,
        label=entry.required("label", str),
        text=entry.optional("text", str),
        kind=kind,
        min=low,
        max=high,
        options=options,
        reverse=entry.optional("reverse", bool, False),
        loinc=_loinc(entry.optional("loinc", str), f"{entry.where}.loinc"),
        asked_if=asked_if,
    )
    entry.done()
    return item


def _band_sets(entries: list[_Table]) -> tuple[BandSet, ...]:
    band_sets = []
    for entry in entries:
        convention = entry.optional("convention", bool, False)
        bands = []
        for band in entry.tables("bands"):
            bands.append(
                Band(
                    id=_identifier(band.required("id", str), f"{band.where}.id"),
                    label=band.required("label", str),
                    min=band.required("min", int),
                    max=band.required("max", int),
                    note=band.optional("note", str),
                    convention=convention,
                )
            )
            band.done()
        when = entry.optional("when", dict, {})
        if not all(isinstance(value, bool) for value in when.values()):
            raise DefinitionError(f"{entry.where}.when: values must be true or false")
        band_sets.append(
            BandSet(
                id=_identifier(entry.required("id", str), f"{entry.where}.id"),
                bands=tuple(bands),
                source=entry.required("source", str),
                when=MappingProxyType(dict(when)),
                convention=convention,
            )
        )
        entry.done()
    return tuple(band_sets)


def _outcomes(table: _Table | None, instrument_id: str) -> OutcomeRules | None:
    if table is None:
        return None
    sources = {}
    values: dict[str, Any] = {}
    for rule, keys in {
        "mcid": ("mcid",),
        "reliable_change": ("reliable_change",),
        "response": ("response_reduction_percent", "response_inclusive"),
        "remission": ("remission_below",),
        "relapse": ("relapse_rise",),
    }.items():
        for key in keys:
            kind = bool if key == "response_inclusive" else int
            value = table.optional(key, kind)
            if value is not None:
                values[key] = value
        if keys[0] in values:
            sources[rule] = table.required(f"{rule}_source", str)
        else:
            table.optional(f"{rule}_source", str)
    table.done()
    return OutcomeRules(instrument=instrument_id, sources=MappingProxyType(sources), **values)


def parse(text: str, *, expected_id: str | None = None) -> Instrument:
    """Build an instrument from the text of a definition file, or raise DefinitionError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError(f"{expected_id or 'definition'}: not valid TOML ({error})") from None
    return _build(data, expected_id=expected_id)


def _build(data: dict[str, Any], *, expected_id: str | None) -> Instrument:
    top = _Table(data, expected_id or str(data.get("id", "definition")))
    instrument_id = _identifier(top.required("id", str), f"{top.where}.id")
    if expected_id is not None and instrument_id != expected_id:
        raise DefinitionError(f"{top.where}: id '{instrument_id}' does not match the file name")

    licence_table = top.table("licence", required=True)
    licence = Licence(
        status=licence_table.required("status", str),
        text_may_ship=licence_table.required("text_may_ship", bool),
        source=licence_table.required("source", str),
    )
    licence_table.done()

    loinc_panel = loinc_total = loinc_source = None
    if loinc := top.table("loinc"):
        loinc_panel = _loinc(loinc.optional("panel", str), f"{loinc.where}.panel")
        loinc_total = _loinc(loinc.optional("total", str), f"{loinc.where}.total")
        loinc_source = loinc.required("source", str)
        loinc.done()

    missing_table = top.table("missing_items", required=True)
    missing_items = MissingItems(
        rule=missing_table.required("rule", str), note=missing_table.required("note", str)
    )
    missing_table.done()

    shared = _answer_scale(top.table("answers"), top.where)
    items = tuple(_item(entry, shared) for entry in top.tables("items"))

    subscales = []
    for entry in top.tables("subscales"):
        subscales.append(
            Subscale(
                id=_identifier(entry.required("id", str), f"{entry.where}.id"),
                label=entry.required("label", str),
                items=_strings(entry.required("items", list), f"{entry.where}.items"),
                source=entry.required("source", str),
            )
        )
        entry.done()

    cutoffs = []
    for entry in top.tables("cutoffs"):
        cutoffs.append(
            Cutoff(
                id=_identifier(entry.required("id", str), f"{entry.where}.id"),
                label=entry.required("label", str),
                at_least=entry.required("at_least", int),
                source=entry.required("source", str),
            )
        )
        entry.done()

    flags = []
    for entry in top.tables("flags"):
        flags.append(
            FlagRule(
                code=_identifier(entry.required("code", str), f"{entry.where}.code"),
                urgent=entry.required("urgent", bool),
                detail=entry.required("detail", str),
                source=entry.required("source", str),
                item=entry.optional("item", str),
                at_least=entry.optional("at_least", int),
                any_yes=_strings(entry.optional("any_yes", list, []), f"{entry.where}.any_yes"),
            )
        )
        entry.done()

    risk_levels = []
    for entry in top.tables("risk_levels"):
        risk_levels.append(
            RiskLevel(
                id=_identifier(entry.required("id", str), f"{entry.where}.id"),
                label=entry.required("label", str),
                source=entry.required("source", str),
                any_yes=_strings(entry.optional("any_yes", list, []), f"{entry.where}.any_yes"),
                otherwise=entry.optional("otherwise", bool, False),
                action=entry.optional("action", str),
            )
        )
        entry.done()

    provisional = None
    if table := top.table("provisional_diagnosis"):
        minimums = table.required("cluster_minimums", dict)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in minimums.values()):
            raise DefinitionError(f"{table.where}.cluster_minimums: must be whole numbers")
        provisional = ProvisionalDiagnosis(
            threshold=table.required("threshold", int),
            threshold_source=table.required("threshold_source", str),
            endorsed_at=table.required("endorsed_at", int),
            cluster_minimums=MappingProxyType(dict(minimums)),
            rule_source=table.required("rule_source", str),
        )
        table.done()

    context = []
    for key, entry_data in (top.optional("context", dict, {})).items():
        entry = _Table(entry_data, f"{top.where}.context.{key}")
        context.append(
            ContextFlag(
                id=_identifier(key, entry.where),
                label=entry.required("label", str),
                source=entry.required("source", str),
            )
        )
        entry.done()

    total_range = top.optional("total_range", list)
    if total_range is not None and (
        len(total_range) != 2 or not all(type(value) is int for value in total_range)
    ):
        raise DefinitionError(f"{top.where}.total_range: must be [lowest, highest]")
    instrument = Instrument(
        id=instrument_id,
        name=top.required("name", str),
        short_name=top.required("short_name", str),
        version=top.required("version", str),
        rated_by=_enum(RatedBy, top.required("rated_by", str), f"{top.where}.rated_by"),
        recall_period=top.required("recall_period", str),
        source=top.required("source", str),
        licence=licence,
        items=items,
        scoring=_enum(Scoring, top.optional("scoring", str, "sum"), f"{top.where}.scoring"),
        missing_items=missing_items,
        total_min=total_range[0] if total_range else None,
        total_max=total_range[1] if total_range else None,
        stem=top.optional("stem", str),
        loinc_panel=loinc_panel,
        loinc_total=loinc_total,
        loinc_source=loinc_source,
        band_sets=_band_sets(top.tables("band_sets")),
        no_bands_reason=top.optional("no_bands_reason", str),
        subscales=tuple(subscales),
        cutoffs=tuple(cutoffs),
        flags=tuple(flags),
        risk_levels=tuple(risk_levels),
        provisional_diagnosis=provisional,
        outcomes=_outcomes(top.table("outcomes"), instrument_id),
        context=tuple(context),
        report_mean_item_score=top.optional("report_mean_item_score", bool, False),
        raw=MappingProxyType(data),
    )
    item_count = top.required("item_count", int)
    top.done()
    _validate(instrument, item_count, top.where)
    return instrument


# ---------------------------------------------------------------------------------------------
# Validation: the rules a reviewer would check by eye, checked on every load


def _validate(inst: Instrument, item_count: int, where: str) -> None:
    def fail(message: str) -> None:
        raise DefinitionError(f"{where}: {message}")

    if inst.missing_items.rule not in MISSING_ITEM_RULES:
        fail(f"missing_items.rule must be one of {', '.join(MISSING_ITEM_RULES)}")

    # Items
    if len(inst.items) != item_count:
        fail(f"item_count is {item_count} but {len(inst.items)} items are defined")
    ids = [item.id for item in inst.items]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        fail(f"item ids must be unique: {', '.join(duplicates)} repeated")
    earlier: set[str] = set()
    for item in inst.items:
        if item.min >= item.max:
            fail(f"item {item.id}: min must be below max")
        values = [option.value for option in item.options]
        yes_no = item.kind is ItemKind.YES_NO
        if any(isinstance(value, bool) != yes_no for value in values):
            fail(
                f"item {item.id}: option values must be {'true or false' if yes_no else 'numbers'}"
            )
        if sorted(values) != sorted(item.answers) or len(values) != len(set(values)):
            fail(f"item {item.id}: options must give each answer from min to max once")
        if item.text is not None and not inst.licence.text_may_ship:
            fail(f"item {item.id}: the licence does not let item text ship")
        if not inst.licence.text_may_ship and not NEUTRAL_LABEL.fullmatch(item.label):
            fail(f"item {item.id}: a licensed scale's label must be neutral ('Item 1')")
        if item.asked_if is not None:
            parent = item.asked_if.item
            if parent not in earlier:
                fail(f"item {item.id}: asked_if must name an earlier item")
            if inst.item(parent).kind is not ItemKind.YES_NO:
                fail(f"item {item.id}: asked_if must name a yes/no item")
        earlier.add(item.id)
    if inst.stem is not None and not inst.licence.text_may_ship:
        fail("the licence does not let the stem ship")

    # Totals and bands
    if inst.scoring is Scoring.SUM:
        low = sum(item.min_points for item in inst.items)
        high = sum(item.max_points for item in inst.items)
        if (inst.total_min, inst.total_max) != (low, high):
            fail(f"total_range must be [{low}, {high}], the sum of the item ranges")
        if not inst.band_sets and not inst.no_bands_reason:
            fail("an instrument without bands must say why (no_bands_reason)")
        if inst.band_sets and inst.no_bands_reason:
            fail("no_bands_reason given but bands are defined")
        if any(item.asked_if for item in inst.items):
            fail("skip logic (asked_if) needs a risk-level instrument: a sum would miss items")
    else:
        if inst.total_min is not None or inst.band_sets or inst.cutoffs or inst.subscales:
            fail("a risk-level instrument has no total, bands, cut-offs or subscales")
        if not inst.risk_levels or not inst.risk_levels[-1].otherwise:
            fail("risk levels must end with one 'otherwise' level")
        if sum(level.otherwise for level in inst.risk_levels) != 1:
            fail("exactly one risk level may be 'otherwise'")
        for level in inst.risk_levels:
            _yes_no_items(inst, level.any_yes, f"risk level {level.id}", fail)
            if not level.otherwise and not level.any_yes:
                fail(f"risk level {level.id}: needs any_yes or otherwise")
    if inst.risk_levels and inst.scoring is Scoring.SUM:
        fail("risk levels need scoring = 'risk_levels'")

    context_ids = {flag.id for flag in inst.context}
    combinations = _combinations(sorted(context_ids))
    set_ids = [band_set.id for band_set in inst.band_sets]
    if len(set_ids) != len(set(set_ids)):
        fail("band set ids must be unique")
    for band_set in inst.band_sets:
        if unknown := set(band_set.when) - context_ids:
            fail(f"band set {band_set.id}: 'when' names unknown context {sorted(unknown)}")
        _validate_bands(band_set, inst.total_min, inst.total_max, fail)
    if inst.band_sets:
        for combination in combinations:
            matching = [s.id for s in inst.band_sets if s.applies(combination)]
            if len(matching) != 1:
                fail(f"exactly one band set must apply to context {combination}: {matching}")

    # Subscales, cut-offs, flags, provisional diagnosis
    subscale_ids = [subscale.id for subscale in inst.subscales]
    if len(subscale_ids) != len(set(subscale_ids)):
        fail("subscale ids must be unique")
    for subscale in inst.subscales:
        if unknown := [i for i in subscale.items if i not in ids]:
            fail(f"subscale {subscale.id}: unknown item(s) {', '.join(unknown)}")
        if len(subscale.items) != len(set(subscale.items)) or not subscale.items:
            fail(f"subscale {subscale.id}: items must be listed once each")
    for cutoff in inst.cutoffs:
        if not inst.total_min < cutoff.at_least <= inst.total_max:
            fail(f"cut-off {cutoff.id}: must lie within the total range")
    for flag in inst.flags:
        if flag.item is not None:
            if flag.item not in ids:
                fail(f"flag {flag.code}: unknown item {flag.item}")
            item = inst.item(flag.item)
            if flag.at_least is None or not item.min_points < flag.at_least <= item.max_points:
                fail(f"flag {flag.code}: at_least must lie within item {flag.item}'s points")
            if flag.any_yes:
                fail(f"flag {flag.code}: give either item and at_least, or any_yes")
        elif flag.any_yes:
            _yes_no_items(inst, flag.any_yes, f"flag {flag.code}", fail)
        else:
            fail(f"flag {flag.code}: needs item and at_least, or any_yes")
    if (diagnosis := inst.provisional_diagnosis) is not None:
        if not inst.total_min < diagnosis.threshold <= inst.total_max:
            fail("provisional_diagnosis.threshold must lie within the total range")
        if unknown := set(diagnosis.cluster_minimums) - set(subscale_ids):
            fail(f"provisional_diagnosis: unknown cluster(s) {sorted(unknown)}")
        for cluster, needed in diagnosis.cluster_minimums.items():
            if not 0 < needed <= len(inst.subscale(cluster).items):
                fail(f"provisional_diagnosis: cluster {cluster} needs 1 to its item count")
        if not all(0 < diagnosis.endorsed_at <= item.max_points for item in inst.items):
            fail("provisional_diagnosis.endorsed_at must lie within the item range")

    if (rules := inst.outcomes) is not None:
        if inst.scoring is not Scoring.SUM:
            fail("outcomes need a total")
        for name in ("mcid", "reliable_change", "relapse_rise"):
            value = getattr(rules, name)
            if value is not None and not 0 < value <= inst.total_max:
                fail(f"outcomes.{name} must be from 1 to the highest total")
        percent = rules.response_reduction_percent
        if percent is not None and not 0 < percent <= 100:
            fail("outcomes.response_reduction_percent must be from 1 to 100")
        if rules.remission_below is not None and not (
            inst.total_min < rules.remission_below <= inst.total_max
        ):
            fail("outcomes.remission_below must lie within the total range")
        if rules.relapse_rise is not None and percent is None:
            fail("outcomes.relapse_rise needs a response rule: relapse follows a response")


def _validate_bands(band_set: BandSet, low: int, high: int, fail) -> None:
    if not band_set.bands:
        fail(f"band set {band_set.id}: has no bands")
    expected = low
    seen: set[str] = set()
    for band in band_set.bands:
        if band.id in seen:
            fail(f"band set {band_set.id}: band id {band.id} repeated")
        seen.add(band.id)
        if band.min > band.max:
            fail(f"band set {band_set.id}: band {band.id} runs backwards")
        if band.min != expected:
            fail(
                f"band set {band_set.id}: band {band.id} starts at {band.min}; "
                f"bands must be contiguous from {low}, so it should start at {expected}"
            )
        expected = band.max + 1
    if expected - 1 != high:
        fail(f"band set {band_set.id}: bands end at {expected - 1}, not at the highest total")


def _yes_no_items(inst: Instrument, item_ids, what: str, fail) -> None:
    for item_id in item_ids:
        if item_id not in inst.item_ids:
            fail(f"{what}: unknown item {item_id}")
        if inst.item(item_id).kind is not ItemKind.YES_NO:
            fail(f"{what}: item {item_id} is not a yes/no item")


def _combinations(keys: list[str]) -> list[dict[str, bool]]:
    combinations: list[dict[str, bool]] = [{}]
    for key in keys:
        combinations = [{**c, key: value} for c in combinations for value in (False, True)]
    return combinations


# ---------------------------------------------------------------------------------------------
# The shipped definitions


@cache
def _shipped() -> dict[str, Instrument]:
    folder = resources.files("kapstone.clinical.instruments").joinpath("definitions")
    instruments = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            instrument_id = entry.name.removesuffix(".toml")
            instruments[instrument_id] = parse(entry.read_text(), expected_id=instrument_id)
    return instruments


def all_instruments() -> tuple[Instrument, ...]:
    """Every shipped instrument, by id."""
    return tuple(_shipped().values())


def ids() -> tuple[str, ...]:
    return tuple(_shipped())


def get(instrument_id: str, overrides: Mapping[str, Any] | None = None) -> Instrument:
    """One instrument, with a clinic's overrides of its thresholds applied.

    ``overrides`` has the shape of the definition file, limited to the sections in
    OVERRIDABLE, e.g. ``{"provisional_diagnosis": {"threshold": 31}}``. Unknown keys are
    refused (KeyError), as for the clinic's other settings.
    """
    shipped = _shipped()
    if instrument_id not in shipped:
        raise InvalidInput("instrument", f"must be one of: {', '.join(shipped)}")
    instrument = shipped[instrument_id]
    if not overrides:
        return instrument
    return with_overrides(instrument, overrides)


def with_overrides(instrument: Instrument, overrides: Mapping[str, Any]) -> Instrument:
    if refused := sorted(set(overrides) - set(OVERRIDABLE)):
        raise KeyError(f"not a clinic setting of {instrument.id}: {', '.join(refused)}")
    merged = merge(_plain(instrument.raw), _plain(overrides))
    return _build(merged, expected_id=instrument.id)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    return value
