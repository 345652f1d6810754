"""A clinic's settings, checked whole before they are saved.

A clinic changes the shipped defaults in its settings (``Organization.settings_overrides``):
the sections of ``data/defaults.toml``, each instrument's outcome rules (``outcomes``), and the
sections each kept in its own reviewed file (``eligibility``, ``protocols``, ``pk``,
``scheduling``, ``monitoring``). Each of those loaders refuses a bad change when the setting is
used, which is too late: a typo would break a page, or a dosing gate, in the middle of clinic.
``check`` runs every section's own loader on the clinic's changes at once and returns every
problem, each naming the setting's key path and the rule, never the value. Pure Python.
"""

import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from importlib import resources
from itertools import pairwise
from typing import Any

import tomli_w

from kapstone.clinical import config, eligibility, icd10, instruments, pk, protocols
from kapstone.clinical.instruments.outcomes import outcome_rules
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.dosing.gates import pre_dose_rules
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration.practice import MAX_LINK_DAYS
from kapstone.monitoring.schedule import MONITORING_KEYS
from kapstone.monitoring.schedule import schedule as monitoring_schedule
from kapstone.monitoring.vitals import Vital, thresholds
from kapstone.scheduling.series import clinic_rules

DEFAULTS_SECTIONS = tuple(config.shipped_defaults())
OUTCOMES = "outcomes"
SECTIONS = (*DEFAULTS_SECTIONS, OUTCOMES, *config.RULE_SECTIONS)
# Sections that change a clinical decision (who is eligible, what dose, what counts as a
# response, when a nurse is alerted): the medical director answers for these. The rest run
# the clinic (links, reminders, crisis numbers, closed days, the consent form's version).
CLINICAL_SECTIONS = frozenset(
    {
        "measurements",
        "treatment_resistance",
        "outcomes",
        "eligibility",
        "protocols",
        "pk",
        "monitoring",
    }
)
OPERATIONAL_SECTIONS = frozenset(SECTIONS) - CLINICAL_SECTIONS

# The consent record keeps the form's version in 20 characters.
FORM_VERSION_MAX_CHARS = 20
# A practice link lives 1 to MAX_LINK_DAYS days, as the integration actions hold it.
LINK_DAYS = (1, MAX_LINK_DAYS)
_HOUR_MINUTE = re.compile(r"\d{2}:\d{2}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_VERSION_IN_PATH = re.compile(r" v\d+")
_INDEX = re.compile(r"\[\d+\]")
# "<key> is not a clinic setting", as the loaders word a key they refuse.
_REFUSED_KEY = re.compile(r"(\w+) is not a clinic setting")


# ---------------------------------------------------------------------------------------------
# The whole settings


def check(overrides: Mapping[str, Any]) -> list[InvalidInput]:
    """Every problem in a clinic's settings, one per key path, in the order found."""
    if not isinstance(overrides, Mapping):
        return [InvalidInput("settings", "must be a table of sections")]
    problems = _storable("", overrides)
    for section, changes in overrides.items():
        if section not in SECTIONS:
            problems.append(InvalidInput(section, "is not a section of the clinic's settings"))
        elif not isinstance(changes, Mapping):
            problems.append(InvalidInput(section, "must be a table of settings"))
        else:
            problems += _CHECKERS[section](section, changes)
    return _one_per_field(problems)


def changed_sections(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
    """The sections whose settings differ (set, changed or removed)."""
    old, new = old or {}, new or {}
    return {name for name in set(old) | set(new) if old.get(name) != new.get(name)}


def changed_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """The key paths of every setting set, changed or removed (a list counts as one value)."""
    old, new = old or {}, new or {}
    paths = []
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            paths += [f"{key}.{inner}" for inner in changed_keys(before, after)]
        elif isinstance(before, Mapping) or isinstance(after, Mapping):
            table = before if isinstance(before, Mapping) else after
            paths += [f"{key}.{inner}" for inner in changed_keys({}, table)] or [str(key)]
        else:
            paths.append(str(key))
    return paths


def is_clinical(sections: Iterable[str]) -> bool:
    return bool(CLINICAL_SECTIONS & set(sections))


def _one_per_field(problems: list[InvalidInput]) -> list[InvalidInput]:
    # A TOML date where text belongs is both unstorable and of the wrong kind: say it once.
    seen, kept = set(), []
    for problem in problems:
        key = _INDEX.sub("", problem.field)
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    return kept


def _storable(path: str, value: Any) -> list[InvalidInput]:
    """Settings are kept as JSON: TOML's dates and times, and infinite or not-a-number
    floats, have no place there."""
    if isinstance(value, Mapping):
        return [
            problem
            for key, inner in value.items()
            for problem in _storable(f"{path}.{key}" if path else str(key), inner)
        ]
    if isinstance(value, list):
        return [p for i, inner in enumerate(value) for p in _storable(f"{path}[{i}]", inner)]
    if isinstance(value, datetime | date | time):
        return [InvalidInput(path, "must be written as text in quotes, not a TOML date or time")]
    if value is None:
        # Only a settings file written as JSON can say null; TOML cannot write it back.
        return [InvalidInput(path, "must have a value")]
    if isinstance(value, float) and not math.isfinite(value):
        return [InvalidInput(path, "must be a finite number")]
    return []


# ---------------------------------------------------------------------------------------------
# Sections of data/defaults.toml: each key must be one the shipped file has, of its kind, and
# within the rule its reader relies on.


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _positive_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def _at_least_one(value: Any) -> str | None:
    if not _whole_number(value) or value < 1:
        return "must be a whole number of at least 1"
    return None


def _hours(value: Any) -> str | None:
    if not _whole_number(value) or value < 1:
        return "must be a whole number of hours of at least 1"
    return None


def _bound(value: Any) -> str | None:
    if _positive_decimal(value) is None:
        return 'must be a number above 0, e.g. "25"'
    return None


def _icd10_codes(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        return "must be a list of ICD-10-CM codes as text"
    for code in value:
        try:
            icd10.validate(code)
        except InvalidInput:
            return "must list billable ICD-10-CM codes only (for example F41.1)"
    return None


def _instrument(value: Any) -> str | None:
    if value not in instruments.ids():
        return f"must be one of {', '.join(instruments.ids())}"
    return None


def _hours_after_dosing(value: Any) -> str | None:
    if not isinstance(value, list) or not all(_whole_number(h) and h >= 1 for h in value):
        return "must be a list of whole numbers of hours of at least 1"
    if any(later <= earlier for earlier, later in pairwise(value)):
        return "must be in increasing order, each time once"
    return None


def _time_of_day(value: Any) -> str | None:
    if not isinstance(value, str) or not _HOUR_MINUTE.fullmatch(value):
        return 'must be a 24-hour time as text, e.g. "09:00"'
    try:
        time.fromisoformat(value)
    except ValueError:
        return 'must be a 24-hour time as text, e.g. "09:00"'
    return None


def _crisis_lines(value: Any) -> str | None:
    # A patient whose answers raise a suicide-risk alert must always be shown somewhere to turn.
    if not isinstance(value, list) or not value:
        return "must list at least one crisis line"
    for line in value:
        if not isinstance(line, Mapping) or set(line) != {"name", "how"}:
            return "must give each line a name and how to reach it, and nothing else"
        if not (_text(line["name"]) and _text(line["how"])):
            return "must give each line a name and how to reach it as text"
    return None


def _closed_days(value: Any) -> str | None:
    if not isinstance(value, list):
        return 'must be a list of dates as text, e.g. ["2026-12-25"]'
    for day in value:
        if not isinstance(day, str) or not _ISO_DAY.fullmatch(day):
            return 'must be a list of dates as text, e.g. ["2026-12-25"]'
        try:
            date.fromisoformat(day)
        except ValueError:
            return "must list real calendar dates"
    if len(set(value)) != len(value):
        return "must name each date once"
    return None


def _form_version(value: Any) -> str | None:
    if not _text(value):
        return "must be the consent form's version as text, not empty"
    if len(value.strip()) > FORM_VERSION_MAX_CHARS:
        return f"must be at most {FORM_VERSION_MAX_CHARS} characters"
    return None


def _link_days(value: Any) -> str | None:
    low, high = LINK_DAYS
    if not _whole_number(value) or not low <= value <= high:
        return f"must be a whole number of days from {low} to {high}"
    return None


# Key path (a * stands for any name) -> the rule its value must meet, as a message or None.
_RULES: dict[str, Callable[[Any], str | None]] = {
    "measurements.*.min": _bound,
    "measurements.*.max": _bound,
    "treatment_resistance.medication_min_weeks": _at_least_one,
    "treatment_resistance.psychotherapy_min_sessions": _at_least_one,
    "treatment_resistance.failed_medication_trials_required": _at_least_one,
    "diagnoses.common": _icd10_codes,
    "checkins.link_valid_hours": _hours,
    "checkins.overdue_after_hours": _hours,
    "checkins.pre_dose_hours_before": _hours,
    "checkins.default_instrument": _instrument,
    "checkins.after_dosing_hours": _hours_after_dosing,
    "checkins.weekly_time": _time_of_day,
    "crisis_resources.lines": _crisis_lines,
    "ledger.closed_days": _closed_days,
    "consent.form_version": _form_version,
    "home_practice.link_days": _link_days,
}


def _rule_for(path: str) -> Callable[[Any], str | None] | None:
    parts = path.split(".")
    for pattern, rule in _RULES.items():
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(
            w in ("*", p) for w, p in zip(wanted, parts, strict=True)
        ):
            return rule
    return None


def _kind_of(default: Any) -> tuple[type, str]:
    if isinstance(default, bool):
        return bool, "true or false"
    if isinstance(default, int):
        return int, "a whole number"
    if isinstance(default, str):
        return str, "text"
    if isinstance(default, list):
        return list, "a list"
    return type(default), "a value of the shipped kind"


def _walk(path: str, shipped: Mapping[str, Any], changes: Mapping[str, Any]) -> list:
    problems = []
    for key, value in changes.items():
        name = f"{path}.{key}"
        if key not in shipped:
            problems.append(InvalidInput(name, "is not a clinic setting"))
        elif _is_source(key):
            problems.append(InvalidInput(name, "is the shipped file's citation, not a setting"))
        elif isinstance(shipped[key], Mapping):
            if isinstance(value, Mapping):
                problems += _walk(name, shipped[key], value)
            else:
                problems.append(InvalidInput(name, "must be a table of settings"))
        elif (rule := _rule_for(name)) is not None:
            if (message := rule(value)) is not None:
                problems.append(InvalidInput(name, message))
        else:
            kind, words = _kind_of(shipped[key])
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
                problems.append(InvalidInput(name, f"must be {words}"))
    return problems


def _defaults_section(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    shipped = config.shipped_defaults()[section]
    problems = _walk(section, shipped, changes)
    if problems:
        return problems
    merged = config.merge(shipped, changes)
    if section == "measurements":
        for name, entry in merged.items():
            low, high = _positive_decimal(entry["min"]), _positive_decimal(entry["max"])
            if low >= high:
                problems.append(InvalidInput(f"measurements.{name}.min", "must be below max"))
    if section == "checkins" and merged["overdue_after_hours"] >= merged["link_valid_hours"]:
        # The reminder goes with the same link: it must still open when the reminder arrives.
        problems.append(
            InvalidInput("checkins.overdue_after_hours", "must be less than link_valid_hours")
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Sections checked by their own loaders. Their errors name paths in their own files' terms;
# here each is put back into the clinic's key path, and a quoted value is never passed on.

_ERRORS = (InvalidInput, InvalidInputs, DefinitionError, KeyError, ValueError)
# A table where a value belongs, or a value where a table belongs, can trip a loader before
# its own check does: still the clinic's setting of the wrong shape.
_SHAPE_ERRORS = (TypeError, AttributeError)


def _leaves(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [leaf for inner in value.values() for leaf in _leaves(inner)]
    if isinstance(value, list):
        return [leaf for inner in value for leaf in _leaves(inner)]
    return [str(value)]


def _without_values(message: str, changes: Mapping[str, Any]) -> str:
    for leaf in sorted(set(_leaves(changes)), key=len, reverse=True):
        message = message.replace(f"'{leaf}'", "a value").replace(f'"{leaf}"', "a value")
    return message


def _join(prefix: str, path: str, drop: tuple[str, ...]) -> str:
    """``prefix`` and a loader's path, without repeating what they share."""
    path = _VERSION_IN_PATH.sub("", path).removeprefix("data/")
    parts = [part for part in path.split(".") if part]
    head = prefix.split(".")
    if parts[: len(head)] == head:
        return ".".join(parts)
    while parts and parts[0] in drop:
        parts = parts[1:]
    for size in range(min(len(head), len(parts)), 0, -1):
        if head[-size:] == parts[:size]:
            parts = parts[size:]
            break
    return ".".join([*head, *parts])


def _problems(
    error: Exception,
    prefix: str,
    changes: Mapping[str, Any],
    *,
    drop: tuple[str, ...] = (),
    fields: Mapping[str, str] | None = None,
) -> list[InvalidInput]:
    if isinstance(error, InvalidInputs):
        return [p for e in error.errors for p in _problems(e, prefix, changes, drop=drop)]
    if isinstance(error, InvalidInput):
        field = (fields or {}).get(error.field) or _join(prefix, error.field, drop)
        return [InvalidInput(field, _without_values(error.message, changes))]
    if isinstance(error, KeyError):
        message = str(error.args[0]) if error.args else "has an unknown setting"
        return [InvalidInput(prefix, _without_values(message, changes))]
    if isinstance(error, _SHAPE_ERRORS):
        return [InvalidInput(prefix, "has a setting of the wrong shape (a table or a value)")]
    where, _, rule = str(error).partition(": ")
    if not rule:
        return [InvalidInput(prefix, _without_values(where, changes))]
    if refused := _REFUSED_KEY.fullmatch(rule):
        where, rule = f"{where}.{refused.group(1)}", "is not a clinic setting"
    return [InvalidInput(_join(prefix, where, drop), _without_values(rule, changes))]


def _loaded(prefix, changes, load, **naming) -> list[InvalidInput]:
    try:
        load()
    except (*_ERRORS, *_SHAPE_ERRORS) as error:
        return _problems(error, prefix, changes, **naming)
    return []


def _is_source(key: str) -> bool:
    return key == "source" or key.endswith("_source")


def _unknown(path: str, shipped: Mapping[str, Any], changes: Mapping[str, Any]) -> list:
    """Keys the shipped data does not have (config.merge would refuse them one at a time,
    without saying where), and citations, which are the reviewed text."""
    problems = []
    for key, value in changes.items():
        name = f"{path}.{key}"
        if key not in shipped:
            problems.append(InvalidInput(name, "is not a clinic setting"))
        elif _is_source(key):
            problems.append(InvalidInput(name, "is the shipped file's citation, not a setting"))
        elif isinstance(shipped[key], Mapping) and isinstance(value, Mapping):
            problems += _unknown(name, shipped[key], value)
    return problems


def _newest(folder: str, versions: tuple[str, ...]) -> dict[str, Any]:
    text = resources.files("kapstone.clinical").joinpath(f"{folder}/{versions[-1]}.toml")
    return tomllib.loads(text.read_text())


def _outcomes(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    problems = []
    for instrument_id, rules in changes.items():
        name = f"{section}.{instrument_id}"
        if instrument_id not in instruments.ids():
            problems.append(InvalidInput(name, "is not an instrument Kapstone scores"))
            continue
        shipped = instruments.get(instrument_id).raw.get("outcomes")
        if shipped is None:
            problems.append(InvalidInput(name, "has no outcome rules to change"))
        elif not isinstance(rules, Mapping):
            problems.append(InvalidInput(name, "must be a table of outcome rules"))
        elif unknown := _unknown(name, shipped, rules):
            problems += unknown
        else:
            problems += _loaded(
                name,
                rules,
                lambda i=instrument_id, r=rules: outcome_rules(i, r),
                drop=(instrument_id, "outcomes"),
                fields={"instrument": name},
            )
    return problems


def _eligibility(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    # The newest rule set is the one new screenings use with the clinic's changes.
    shipped = _newest(eligibility.DATA, eligibility.versions())
    if unknown := _unknown(section, shipped, changes):
        return unknown
    return _loaded(section, changes, lambda: eligibility.rule_set(None, changes))


def _protocols(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    # Likewise the newest protocol library, which new plans are drafted from.
    shipped = _newest(protocols.DATA, protocols.versions())
    if unknown := _unknown(section, shipped, changes):
        return unknown
    return _loaded(section, changes, lambda: protocols.library(None, changes))


# What pk.data lets a clinic change: the default model, and each route's absorption figures
# (a route the reference gives no figure for, SC, among them).
PK_KEYS = ("absorption", "default_model")
PK_ABSORPTION_KEYS = ("bioavailability", "tmax_minutes")


def _pk(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    problems = [
        InvalidInput(f"{section}.{key}", "is not a clinic setting")
        for key in changes
        if key not in PK_KEYS
    ]
    absorption = changes.get("absorption", {})
    if not isinstance(absorption, Mapping):
        return [*problems, InvalidInput(f"{section}.absorption", "must be a table of routes")]
    routes = pk.shipped().absorption
    for route, figures in absorption.items():
        where = f"{section}.absorption.{route}"
        if route not in routes:
            problems.append(InvalidInput(where, "is not a route in the absorption data"))
        elif not isinstance(figures, Mapping):
            problems.append(InvalidInput(where, "must be a table of figures"))
        else:
            problems += [
                InvalidInput(f"{where}.{key}", "is not a clinic setting")
                for key in figures
                if key not in PK_ABSORPTION_KEYS
            ]
    if problems:
        return problems
    return _loaded(section, changes, lambda: pk.data(changes))


def _scheduling(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    return _loaded(section, changes, lambda: clinic_rules(changes))


def _monitoring(section: str, changes: Mapping[str, Any]) -> list[InvalidInput]:
    problems = []
    for key in changes:
        if key not in MONITORING_KEYS:
            problems.append(InvalidInput(f"{section}.{key}", "is not a monitoring setting"))
    tables = {}
    for key in MONITORING_KEYS:
        value = changes.get(key, {})
        if not isinstance(value, Mapping):
            problems.append(InvalidInput(f"{section}.{key}", "must be a table of settings"))
        else:
            tables[key] = value
    if "schedule" in tables:
        problems += _loaded(
            f"{section}.schedule",
            tables["schedule"],
            lambda: monitoring_schedule({"schedule": tables["schedule"]}),
        )
    limits = None
    if "thresholds" in tables:
        # One vital at a time, so every bad threshold is named, not only the first.
        found = []
        for name, entry in tables["thresholds"].items():
            where = f"{section}.thresholds.{name}"
            if not isinstance(entry, Mapping):
                found.append(InvalidInput(where, "must be a table of limits (above, below)"))
            elif name not in {vital.value for vital in Vital}:
                found.append(InvalidInput(where, "is not a vital sign Kapstone records"))
            else:
                found += _loaded(where, entry, lambda n=name, e=entry: thresholds({n: e}))
        problems += found
        if not found:
            limits = thresholds(tables["thresholds"])
    if "pre_dose" in tables:
        problems += _loaded(
            f"{section}.pre_dose",
            tables["pre_dose"],
            lambda: pre_dose_rules(tables["pre_dose"], limits=limits),
        )
    return problems


_CHECKERS: dict[str, Callable[[str, Mapping[str, Any]], list[InvalidInput]]] = {
    **{section: _defaults_section for section in DEFAULTS_SECTIONS},
    OUTCOMES: _outcomes,
    "eligibility": _eligibility,
    "protocols": _protocols,
    "pk": _pk,
    "scheduling": _scheduling,
    "monitoring": _monitoring,
}


# ---------------------------------------------------------------------------------------------
# What the clinic overrides, shown beside its settings


# The sections kept in their own reviewed files, in the clinic's words.
RULE_SECTION_NOTES = {
    "outcomes": (
        "Each instrument's outcome rules (MCID, response, remission, relapse), under "
        "[outcomes.<instrument>] with the names of the instrument's [outcomes] table; each "
        "shipped threshold cites its source in the instrument's definition."
    ),
    "eligibility": (
        "The eligibility rule set's rules, under [eligibility.rules.<rule>]: whether a rule "
        "applies (enabled), its kind and its thresholds. Labels and sources stay as reviewed."
    ),
    "protocols": (
        "The protocol library: [protocols.routes.<route>] dose ranges and times, "
        "[protocols.programs.<program>], [protocols.measuring] volume_step_ml and "
        "[protocols.stock] strengths_mg_per_ml. Labels and sources stay as reviewed."
    ),
    "pk": (
        "Plasma-level simulation: [pk] default_model, and [pk.absorption.<route>] "
        "bioavailability and tmax_minutes (a figure the reference lacks is the clinic's own)."
    ),
    "scheduling": "A patient's series: the integration window and the spacing of dosing.",
    "monitoring": (
        "Dosing-session monitoring: [monitoring.schedule] (vital-sign intervals, CADSS "
        "times), [monitoring.thresholds.<vital>] above and below, and [monitoring.pre_dose] "
        "(fasting_hours, pregnancy_test_required, weight_tolerance_percent, "
        "hold_systolic_above, hold_diastolic_above: none has a source in the clinical "
        "reference, each is off until the clinic sets it)."
    ),
}


def _blocks(text: str) -> dict[str, str]:
    """A defaults file's text cut at its top-level tables, comments and sources kept."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[] ").split(".")[0]
        if current is not None:
            blocks.setdefault(current, []).append(line)
    return {name: "\n".join(lines).strip() for name, lines in blocks.items()}


def _read(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text()


def _shipped_outcomes() -> str:
    """Each instrument's [outcomes] table, in the shape the clinic writes its changes."""
    rules = {
        instrument.id: dict(instrument.raw["outcomes"])
        for instrument in instruments.all_instruments()
        if "outcomes" in instrument.raw
    }
    return tomli_w.dumps({OUTCOMES: rules}).strip()


def _shipped_text(section: str, defaults: Mapping[str, str]) -> str:
    if section == OUTCOMES:
        return _shipped_outcomes()
    if section == "eligibility":
        return _read("kapstone.clinical", f"{eligibility.DATA}/{eligibility.versions()[-1]}.toml")
    if section == "protocols":
        return _read("kapstone.clinical", f"{protocols.DATA}/{protocols.versions()[-1]}.toml")
    if section == "pk":
        return _read("kapstone.clinical", "data/pk.toml")
    if section == "scheduling":
        return _read("kapstone.scheduling", "data/defaults.toml")
    if section == "monitoring":
        schedule_text = _read("kapstone.monitoring", "data/schedule.toml").strip()
        limits = _blocks(_read("kapstone.monitoring", "data/vitals.toml"))["thresholds"]
        return f"{schedule_text}\n\n{limits}"
    return defaults.get(section, "")


def shipped_sections() -> list[dict[str, str]]:
    """Each section of the clinic's settings with what ships, as reviewed: the values with
    their source lines, in their own file's shape, and a note on what a clinic may change."""
    defaults = _blocks(_read("kapstone.clinical", "data/defaults.toml"))
    return [
        {
            "name": section,
            "kind": "clinical" if section in CLINICAL_SECTIONS else "operational",
            "note": RULE_SECTION_NOTES.get(section, ""),
            "shipped": _shipped_text(section, defaults).strip(),
        }
        for section in SECTIONS
    ]
