"""Clinic defaults and per-clinic overrides.

The shipped defaults live in ``data/defaults.toml`` with their sources; a clinic's overrides
are a nested mapping with the same shape (stored on the clinic organisation). Pure Python.
"""

import copy
import tomllib
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any


@cache
def _shipped() -> dict[str, Any]:
    text = resources.files("kapstone.clinical").joinpath("data/defaults.toml").read_text()
    return tomllib.loads(text)


def shipped_defaults() -> dict[str, Any]:
    return copy.deepcopy(_shipped())


def merge(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Overrides win key by key; unknown keys are refused so a typo cannot pass silently."""
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if key not in merged:
            raise KeyError(f"unknown clinic setting: {key}")
        if isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Sections of a clinic's settings checked by their own data files rather than defaults.toml.
RULE_SECTIONS = ("eligibility", "protocols", "pk", "scheduling", "monitoring")


class ClinicConfig:
    """Typed read access to the merged settings."""

    def __init__(self, overrides: dict[str, Any] | None = None):
        overrides = dict(overrides or {})
        # Outcome rules (response, remission, MCID...) ship in each instrument's definition
        # with their sources; a clinic's changes to them, keyed by instrument id, are checked
        # against that definition (instruments.outcome_rules), not against defaults.toml.
        self.outcome_overrides: dict[str, dict[str, Any]] = dict(overrides.pop("outcomes", {}))
        # Likewise the eligibility rule set, the protocol library and the PK data: each ships
        # in its own versioned, cited file, which checks a clinic's changes when it loads them.
        self.rule_overrides: dict[str, dict[str, Any]] = {
            section: dict(overrides.pop(section))
            for section in RULE_SECTIONS
            if section in overrides
        }
        self.raw = merge(_shipped(), overrides)

    def overrides_for(self, section: str) -> dict[str, Any] | None:
        """A clinic's changes to a section kept in its own data file (eligibility rules,
        protocols, PK data, series rules, monitoring thresholds and schedule)
        (or None)."""
        if section not in RULE_SECTIONS:
            raise KeyError(f"unknown rule section: {section}")
        return self.rule_overrides.get(section)

    def outcomes_for(self, instrument: str) -> dict[str, Any] | None:
        return self.outcome_overrides.get(instrument)

    def bounds(self, measurement: str) -> tuple[Decimal, Decimal]:
        entry = self.raw["measurements"][measurement]
        return Decimal(str(entry["min"])), Decimal(str(entry["max"]))

    @property
    def treatment_resistance(self) -> dict[str, Any]:
        return self.raw["treatment_resistance"]

    @property
    def common_diagnoses(self) -> list[str]:
        return list(self.raw["diagnoses"]["common"])

    @property
    def checkins(self) -> dict[str, Any]:
        return self.raw["checkins"]

    @property
    def crisis_lines(self) -> list[dict[str, str]]:
        return [dict(line) for line in self.raw["crisis_resources"]["lines"]]

    @property
    def ledger_closed_days(self) -> frozenset[date]:
        """Closed days besides weekends, for counting business-day deadlines."""
        return frozenset(date.fromisoformat(day) for day in self.raw["ledger"]["closed_days"])

    @property
    def consent_form_version(self) -> str:
        return str(self.raw["consent"]["form_version"])

    @property
    def practice_link_days(self) -> int:
        return int(self.raw["home_practice"]["link_days"])
