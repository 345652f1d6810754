"""Home practice between sessions: the library, frequencies, adherence and log checks.

Pure Python. The library is reviewed data (``data/practices.toml``): each practice's plain
instructions for the patient and its default frequency. A frequency is "daily", "weekly" or
"<n>_a_week" (n from 2 to 6). Adherence counts the distinct days practised inside a window
against the days expected there, so logging twice on one day does not make up for a missed
day, and never goes above 100%.
"""

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Protocol

from kapstone.errors import InvalidInput, InvalidInputs

DATA = Path(__file__).parent / "data" / "practices.toml"
MIN_MINUTES, MAX_MINUTES = 1, 240
MIN_RATING, MAX_RATING = 0, 10
NOTE_LENGTH = 500
# The longest a practice link stays open, in days: the clinic's `home_practice.link_days` and
# a link issued by hand are both held to it. No source in clinical-facts.md; an operational
# bound.
MAX_LINK_DAYS = 90

FREQUENCIES: dict[str, str] = {
    "daily": "Every day",
    **{f"{n}_a_week": f"{n} times a week" for n in range(2, 7)},
    "weekly": "Once a week",
}


def per_week(frequency: str) -> int:
    if frequency == "daily":
        return 7
    if frequency == "weekly":
        return 1
    head, _, tail = frequency.partition("_")
    if tail == "a_week" and head.isdigit() and 2 <= int(head) <= 6:
        return int(head)
    raise InvalidInput("frequency", "must be daily, weekly, or 2 to 6 times a week")


def check_frequency(frequency: str) -> str:
    per_week(frequency)
    return frequency


@dataclass(frozen=True)
class Practice:
    id: str
    name: str
    instructions: str
    frequency: str
    source: str

    @property
    def frequency_label(self) -> str:
        return FREQUENCIES[self.frequency]


@cache
def library() -> dict[str, Practice]:
    with DATA.open("rb") as handle:
        raw = tomllib.load(handle)
    practices = {}
    for entry in raw["practice"]:
        practice = Practice(
            id=entry["id"],
            name=entry["name"],
            instructions=entry["instructions"],
            frequency=check_frequency(entry["frequency"]),
            source=entry["source"],
        )
        if practice.id in practices:
            raise ValueError(f"practice {practice.id} is listed twice")
        if not practice.source.strip() or not practice.instructions.strip():
            raise ValueError(f"practice {practice.id} needs instructions and a source")
        practices[practice.id] = practice
    return practices


def get(practice_id: str) -> Practice:
    try:
        return library()[practice_id]
    except KeyError:
        raise InvalidInput("practice", "is not in the home-practice library") from None


def expected_count(frequency: str, start: date, end: date) -> int:
    """Practice days expected from start to end, both included: the weekly number pro rata,
    rounded half up (a week of "3 a week" expects 3; four weeks 12; three days of daily 3)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    share = Fraction(per_week(frequency) * days, 7)
    return int(share + Fraction(1, 2))


class Assigned(Protocol):
    frequency: str
    starts_on: date
    ends_on: date | None


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    @classmethod
    def last(cls, days: int, today: date) -> "Window":
        return cls(today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class Adherence:
    done: int
    expected: int
    # None when nothing was expected in the window (it began before the assignment did).
    percent: int | None


def _day(log) -> date:
    return log if isinstance(log, date) else log.done_on


def adherence(logs: Iterable, assignment: Assigned, window: Window) -> Adherence:
    """Distinct days practised against days expected, inside both the window and the
    assignment's own dates. ``logs`` are dates or rows with ``done_on``."""
    start = max(window.start, assignment.starts_on)
    end = window.end if assignment.ends_on is None else min(window.end, assignment.ends_on)
    expected = expected_count(assignment.frequency, start, end)
    days = {_day(log) for log in logs}
    done = sum(1 for day in days if start <= day <= end)
    if expected == 0:
        return Adherence(done=done, expected=0, percent=None)
    percent = min(100, int(Fraction(100 * done, expected) + Fraction(1, 2)))
    return Adherence(done=done, expected=expected, percent=percent)


def _whole(value, field: str, low: int, high: int, errors: list[InvalidInput]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors.append(InvalidInput(field, f"must be a whole number from {low} to {high}"))


def check_log(
    *,
    done_on: date | None,
    minutes,
    rating,
    note: str,
    today: date,
    starts_on: date,
    ends_on: date | None,
) -> None:
    """Every problem with one practice log at once, naming the field and the rule."""
    errors: list[InvalidInput] = []
    if done_on is None:
        errors.append(InvalidInput("done_on", "is required"))
    elif done_on > today:
        errors.append(InvalidInput("done_on", "cannot be in the future"))
    elif done_on < starts_on:
        errors.append(InvalidInput("done_on", "cannot be before the practice was assigned"))
    elif ends_on is not None and done_on > ends_on:
        errors.append(InvalidInput("done_on", "cannot be after the practice ended"))
    _whole(minutes, "minutes", MIN_MINUTES, MAX_MINUTES, errors)
    if rating is not None:
        _whole(rating, "rating", MIN_RATING, MAX_RATING, errors)
    if len(note or "") > NOTE_LENGTH:
        errors.append(InvalidInput("note", f"must be at most {NOTE_LENGTH} characters"))
    if errors:
        raise InvalidInputs(errors)
