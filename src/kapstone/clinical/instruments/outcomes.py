"""Change over a course of treatment: from baseline to each later score of one instrument.

Meaningful change, response, remission and relapse use the thresholds in the instrument's
definition file (``[outcomes]``), each with its source; most are conventions the clinical
reference could not confirm, and a clinic may override any of them. Higher totals mean more
symptoms for every instrument with outcome rules, so improvement is a fall.

Relapse has no source in the reference. Kapstone's convention: after a score has met the
response rule, a later score that no longer meets it and is at least ``relapse_rise`` points
(the MCID by default) above the lowest total since baseline. A relapse ends that response;
a new response is needed before another relapse is counted. Pure Python.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kapstone.errors import InvalidInput

from . import registry
from .definition import Instrument, OutcomeRules
from .scoring import Score


@dataclass(frozen=True)
class FollowUp:
    """One later score compared with baseline. None: the rule cannot be applied (no total, or
    the instrument has no such rule)."""

    total: int | None
    change: int | None  # total - baseline: negative means fewer symptoms
    percent_change: float | None  # of baseline, one decimal; None when baseline is 0
    meaningful_improvement: bool | None  # fell by at least the MCID
    meaningful_worsening: bool | None  # rose by at least the MCID
    reliable_improvement: bool | None
    response: bool | None
    remission: bool | None
    relapse: bool | None


@dataclass(frozen=True)
class Course:
    instrument: str
    baseline: int
    follow_ups: tuple[FollowUp, ...]
    rules: OutcomeRules

    @property
    def latest(self) -> FollowUp | None:
        """The most recent follow-up with a total."""
        scored = [f for f in self.follow_ups if f.total is not None]
        return scored[-1] if scored else None

    @property
    def ever_responded(self) -> bool:
        return any(f.response for f in self.follow_ups)

    @property
    def relapsed(self) -> bool:
        return any(f.relapse for f in self.follow_ups)


def outcome_rules(
    instrument: str | Instrument, overrides: Mapping[str, Any] | None = None
) -> OutcomeRules:
    """The instrument's rules with a clinic's overrides, e.g. ``{"mcid": 5}``."""
    inst = instrument if isinstance(instrument, Instrument) else registry.get(instrument)
    if overrides:
        inst = registry.with_overrides(inst, {"outcomes": overrides})
    if inst.outcomes is None:
        raise InvalidInput("instrument", f"the {inst.short_name} has no outcome rules")
    return inst.outcomes


def _total(inst_id: str, value: Score | int | None, field: str) -> int | None:
    if isinstance(value, Score):
        if value.instrument != inst_id:
            raise InvalidInput(field, f"must be a score of the same instrument ({inst_id})")
        return value.total
    if value is not None and type(value) is not int:
        raise InvalidInput(field, "must be a score or a whole number")
    return value


def _responded(rules: OutcomeRules, baseline: int, total: int) -> bool | None:
    if rules.response_reduction_percent is None or baseline == 0:
        return None
    # Whole-number arithmetic: 50% of 15 is 7.5, and a fall of 7 must not round up to it.
    fall = (baseline - total) * 100
    needed = rules.response_reduction_percent * baseline
    return fall >= needed if rules.response_inclusive else fall > needed


def _at_least(rule: int | None, points: int) -> bool | None:
    return None if rule is None else points >= rule


def course(
    instrument: str | Instrument,
    baseline: Score | int,
    later: Sequence[Score | int | None],
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Course:
    """Baseline and later scores, oldest first. A later score without a total (items missing)
    keeps its place in the course with every result None."""
    inst = instrument if isinstance(instrument, Instrument) else registry.get(instrument)
    rules = outcome_rules(inst, overrides)
    start = _total(inst.id, baseline, "baseline")
    if start is None:
        raise InvalidInput("baseline", "must be a complete score (every item answered)")

    follow_ups = []
    lowest = start
    in_response = False
    relapse_rule = rules.relapse_rise is not None and rules.response_reduction_percent is not None
    for index, value in enumerate(later):
        total = _total(inst.id, value, f"later[{index}]")
        if total is None:
            follow_ups.append(FollowUp(None, None, None, None, None, None, None, None, None))
            continue
        change = total - start
        response = _responded(rules, start, total)
        relapse = None
        if relapse_rule:
            relapse = in_response and not response and total - lowest >= rules.relapse_rise
            if relapse:
                in_response = False
            elif response:
                in_response = True
        follow_ups.append(
            FollowUp(
                total=total,
                change=change,
                percent_change=None if start == 0 else round(change * 100 / start, 1),
                meaningful_improvement=_at_least(rules.mcid, -change),
                meaningful_worsening=_at_least(rules.mcid, change),
                reliable_improvement=_at_least(rules.reliable_change, -change),
                response=response,
                remission=None if rules.remission_below is None else total < rules.remission_below,
                relapse=relapse,
            )
        )
        lowest = min(lowest, total)
    return Course(inst.id, start, tuple(follow_ups), rules)


def compare(
    instrument: str | Instrument,
    baseline: Score | int,
    later: Score | int,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> FollowUp:
    """One later score against baseline (relapse needs the whole course: use ``course``)."""
    return course(instrument, baseline, [later], overrides=overrides).follow_ups[0]
