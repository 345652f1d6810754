"""A treatment episode of one instrument: its baseline, the scores after it, and the course.

The baseline is the latest score marked ``baseline`` that has a total; a clinic starting a
new episode marks a new baseline, and the scores before it belong to the earlier episode.
Without a marked baseline, the first complete score is the baseline. Every later score,
complete or not, is a follow-up compared with it by ``kapstone.clinical.instruments.course``
(meaningful change, response, remission, relapse, with the clinic's overrides). An
instrument without outcome rules still shows the change in points. Pure Python.
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kapstone.clinical import instruments

BASELINE = "baseline"


@dataclass(frozen=True)
class Point:
    """One administration: when, its total (None: items missing, or no total at all), the
    timepoint it was recorded at, its band label as scored, and the caller's key for it."""

    at: datetime
    total: int | None
    timepoint: str = "other"
    band: str | None = None
    key: Hashable = None


@dataclass(frozen=True)
class Episode:
    instrument: instruments.Instrument
    baseline: Point | None
    # Marked: the baseline was chosen by its timepoint, not as the first complete score.
    baseline_marked: bool
    earlier: tuple[Point, ...]  # before the baseline: an earlier episode, not compared
    follow_ups: tuple[Point, ...]  # after the baseline, oldest first
    results: tuple[instruments.FollowUp, ...]  # one per follow-up
    course: instruments.Course | None  # None when the instrument has no outcome rules

    @property
    def points(self) -> tuple[Point, ...]:
        """Every point, oldest first."""
        middle = (self.baseline,) if self.baseline is not None else ()
        return (*self.earlier, *middle, *self.follow_ups)

    def result_for(self, key: Hashable) -> instruments.FollowUp | None:
        """The comparison with baseline for the point with this key (None for the baseline
        itself and for points before it)."""
        for point, result in zip(self.follow_ups, self.results, strict=True):
            if point.key == key:
                return result
        return None

    @property
    def latest(self) -> instruments.FollowUp | None:
        """The most recent follow-up with a total."""
        scored = [result for result in self.results if result.total is not None]
        return scored[-1] if scored else None

    @property
    def latest_point(self) -> Point | None:
        """The most recent point with a total, the baseline included."""
        scored = [point for point in self.points if point.total is not None]
        return scored[-1] if scored else None

    @property
    def in_relapse(self) -> bool:
        """A relapse was counted and no response has been met since."""
        state = False
        for result in self.results:
            if result.relapse:
                state = True
            elif result.response:
                state = False
        return state


def _plain_follow_up(baseline: int, total: int | None) -> instruments.FollowUp:
    """Change in points only: the instrument has no outcome rules to apply."""
    if total is None:
        return instruments.FollowUp(None, None, None, None, None, None, None, None, None)
    change = total - baseline
    percent = None if baseline == 0 else round(change * 100 / baseline, 1)
    return instruments.FollowUp(total, change, percent, None, None, None, None, None, None)


def choose_baseline(points: Sequence[Point]) -> tuple[int | None, bool]:
    """The index of the baseline in ``points`` (oldest first), and whether it was marked."""
    marked = [i for i, p in enumerate(points) if p.timepoint == BASELINE and p.total is not None]
    if marked:
        return marked[-1], True
    for index, point in enumerate(points):
        if point.total is not None:
            return index, False
    return None, False


def episode(
    instrument: instruments.Instrument | str,
    points: Sequence[Point],
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Episode:
    """The episode the points make. ``overrides`` are the clinic's outcome thresholds for
    this instrument, e.g. ``{"response_reduction_percent": 40}``."""
    inst = (
        instrument
        if isinstance(instrument, instruments.Instrument)
        else instruments.get(instrument)
    )
    ordered = sorted(points, key=lambda point: point.at)  # stable: ties keep the caller's order
    index, marked = choose_baseline(ordered)
    if index is None:
        return Episode(inst, None, False, tuple(ordered), (), (), None)
    baseline = ordered[index]
    later = tuple(ordered[index + 1 :])
    course = None
    if inst.outcomes is not None:
        course = instruments.course(
            inst, baseline.total, [p.total for p in later], overrides=overrides
        )
        results = course.follow_ups
    else:
        results = tuple(_plain_follow_up(baseline.total, p.total) for p in later)
    return Episode(inst, baseline, marked, tuple(ordered[:index]), later, results, course)


def outcome_words(ep: Episode) -> list[str]:
    """What the latest follow-up meets, in the order a clinician reads them (none while the
    latest score is the baseline)."""
    latest = ep.latest
    if latest is None or ep.latest_point is ep.baseline:
        return []
    words = []
    if latest.meaningful_improvement:
        words.append("meaningful improvement")
    if latest.meaningful_worsening:
        words.append("meaningful worsening")
    if latest.response:
        words.append("response")
    if latest.remission:
        words.append("remission")
    if ep.in_relapse:
        words.append("relapse")
    return words


def signed_change(result: instruments.FollowUp | None) -> str:
    """'-9 (-56.3%)', '+3 (+18.8%)', '0 (0.0%)'; '' when there is nothing to compare."""
    if result is None or result.change is None:
        return ""
    text = f"{result.change:+d}" if result.change else "0"
    if result.percent_change is not None:
        percent = f"{result.percent_change:+.1f}" if result.percent_change else "0.0"
        text += f" ({percent}%)"
    return text.replace("-", "\u2212")  # a real minus sign reads better than a hyphen


def rule_lines(rules: instruments.OutcomeRules | None) -> list[tuple[str, bool]]:
    """The outcome rules in words, each with whether it is a convention the clinical
    reference does not confirm (the page says so beside it)."""
    if rules is None:
        return []
    lines = []
    if rules.mcid is not None:
        lines.append((f"meaningful change: {rules.mcid} points", rules.is_unconfirmed("mcid")))
    if rules.response_reduction_percent is not None:
        how = "at least" if rules.response_inclusive else "more than"
        lines.append(
            (
                f"response: a fall of {how} {rules.response_reduction_percent}%",
                rules.is_unconfirmed("response"),
            )
        )
    if rules.remission_below is not None:
        lines.append(
            (f"remission: below {rules.remission_below}", rules.is_unconfirmed("remission"))
        )
    if rules.relapse_rise is not None:
        lines.append(
            (
                f"relapse: after a response, {rules.relapse_rise} points above the lowest score",
                rules.is_unconfirmed("relapse"),
            )
        )
    return lines
