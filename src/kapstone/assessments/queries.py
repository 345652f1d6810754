"""Reading a patient's questionnaire scores: per instrument, in a fixed number of queries.

``chart_scores`` makes two queries whatever the number of scores (the scores, and the open
alerts counted per instrument); ``dosing_times`` one more. The episode rules (baseline,
change, response, remission, relapse) are kapstone.assessments.episodes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from kapstone.assessments.episodes import (
    Episode,
    Point,
    episode,
    outcome_words,
    rule_lines,
    signed_change,
)
from kapstone.assessments.models import Assessment, RiskAlert
from kapstone.clinical import instruments
from kapstone.core.prepared import Prepared, Reads
from kapstone.patients.models import Patient

# What the scores page and the chart show of each administration: the answers themselves
# stay behind.
SHOWN_FIELDS = (
    "id",
    "patient_id",
    "instrument",
    "answered_at",
    "timepoint",
    "source",
    "total",
    "max_total",
    "complete",
    "band_code",
    "band_label",
    "flags",
    "context",
    "extra",
)


@dataclass(frozen=True)
class ScoreRow:
    """One administration with what the episode makes of it."""

    assessment: Assessment
    result: instruments.FollowUp | None  # None: the baseline, or before it
    baseline: bool
    earlier: bool  # before the baseline: an earlier episode

    @property
    def label(self) -> str:
        """The severity band, or the risk level for an instrument without a total."""
        return self.assessment.band_label or self.assessment.extra.get("risk_level_label") or ""

    @property
    def change(self) -> str:
        return signed_change(self.result)

    @property
    def flag_names(self) -> list[tuple[str, bool, str]]:
        """(name, urgent, detail) of each flag the scoring raised."""
        return [
            (
                flag.get("code", "").replace("_", " "),
                bool(flag.get("urgent")),
                flag.get("detail", ""),
            )
            for flag in self.assessment.flags
        ]


@dataclass
class InstrumentScores:
    instrument: instruments.Instrument
    rows: list[ScoreRow]
    episode: Episode
    open_alerts: int = 0
    points: list[Point] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def latest(self) -> ScoreRow:
        """The most recent row with a total; the most recent row when none has one."""
        scored = [row for row in self.rows if row.assessment.total is not None]
        return scored[-1] if scored else self.rows[-1]

    @property
    def baseline(self) -> ScoreRow | None:
        return next((row for row in self.rows if row.baseline), None)

    @property
    def drawable(self) -> bool:
        """A trend can be drawn: the instrument has totals and at least one was given."""
        return self.instrument.max_total is not None and any(
            p.total is not None for p in self.points
        )

    @property
    def band_set(self) -> instruments.BandSet | None:
        """The bands of the latest score's context (PDSS: with or without agoraphobia)."""
        return self.instrument.band_set_for(self.latest.assessment.context or {})

    @property
    def rules(self) -> instruments.OutcomeRules | None:
        course = self.episode.course
        return course.rules if course is not None else self.instrument.outcomes

    @property
    def outcome_words(self) -> list[str]:
        return outcome_words(self.episode)

    @property
    def rule_lines(self) -> list[tuple[str, bool]]:
        return rule_lines(self.rules)

    @property
    def latest_change(self) -> str:
        """The latest score against baseline ('' while the latest score is the baseline)."""
        latest = self.latest
        return latest.change if latest.result is not None else ""


def _order(inst: instruments.Instrument) -> tuple[bool, str]:
    # Instruments with outcome rules measure the treatment's effect: they come first.
    return (inst.outcomes is None, inst.short_name)


def _build(
    rows: list[Assessment], open_alerts: Mapping[str, int], overrides: Mapping[str, Any] | None
) -> list[InstrumentScores]:
    by_instrument: dict[str, list[Assessment]] = {}
    for row in rows:
        by_instrument.setdefault(row.instrument, []).append(row)
    known = set(instruments.ids())
    result = []
    for instrument_id, assessments in by_instrument.items():
        if instrument_id not in known:
            continue  # a definition withdrawn since: its scores cannot be read by its rules
        inst = instruments.get(instrument_id)
        points = [
            Point(
                at=a.answered_at,
                total=a.total,
                timepoint=a.timepoint,
                band=a.band_label or None,
                key=a.pk,
            )
            for a in assessments
        ]
        ep = episode(inst, points, overrides=(overrides or {}).get(instrument_id))
        baseline_key = ep.baseline.key if ep.baseline is not None else None
        earlier = {point.key for point in ep.earlier}
        score_rows = [
            ScoreRow(
                assessment=a,
                result=ep.result_for(a.pk),
                baseline=a.pk == baseline_key,
                earlier=a.pk in earlier,
            )
            for a in sorted(assessments, key=lambda a: (a.answered_at, a.pk))
        ]
        result.append(
            InstrumentScores(
                instrument=inst,
                rows=score_rows,
                episode=ep,
                open_alerts=open_alerts.get(instrument_id, 0),
                points=sorted(points, key=lambda p: p.at),
            )
        )
    return sorted(result, key=lambda scores: _order(scores.instrument))


# The chart runs these on every view: their SQL is compiled once (kapstone.core.prepared).
# Fields in the model's order, as Model.from_db expects of a partial row.
_CHART_FIELDS = tuple(
    f.attname for f in Assessment._meta.concrete_fields if f.attname in SHOWN_FIELDS
)
_CHART_SCORES = Prepared(
    lambda patient_id: (
        Assessment.objects.filter(patient_id=patient_id)
        .order_by("instrument", "answered_at", "pk")
        .values_list(*_CHART_FIELDS)
    )
)
# The open alerts' assessments, counted by instrument in Python from the scores read beside
# them: a grouped join cost the database more to plan than the whole of the scores query.
_CHART_ALERTS = Prepared(
    lambda patient_id: (
        RiskAlert.objects.filter(patient_id=patient_id, status=RiskAlert.Status.OPEN)
        .order_by()
        .values_list("assessment_id")
    )
)


def _open_alerts(patient: Patient, instrument: str | None = None) -> dict[str, int]:
    return _open_alerts_of(patient.pk, instrument)


def _open_alerts_of(patient_id: int, instrument: str | None = None) -> dict[str, int]:
    alerts = RiskAlert.objects.filter(patient_id=patient_id, status=RiskAlert.Status.OPEN)
    if instrument is not None:
        alerts = alerts.filter(assessment__instrument=instrument)
    counted = alerts.order_by().values("assessment__instrument").annotate(n=Count("pk"))
    return {entry["assessment__instrument"]: entry["n"] for entry in counted}


def chart_scores(
    patient: Patient, *, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> list[InstrumentScores]:
    """Every instrument the patient has scores for, in two queries. ``overrides`` holds the
    clinic's outcome thresholds by instrument, e.g. ``{"gad7": {"mcid": 5}}``."""
    return chart_scores_read(Reads(), patient.pk)(overrides)


def chart_scores_read(
    reads: Reads, patient_id: int
) -> Callable[[Mapping[str, Mapping[str, Any]] | None], list[InstrumentScores]]:
    """``chart_scores`` read with a page's other queries; the returned function takes the
    overrides."""
    scores_read = reads.add(_CHART_SCORES, patient_id)
    alerts_read = reads.add(_CHART_ALERTS, patient_id)

    def build(overrides=None) -> list[InstrumentScores]:
        alias = Assessment.objects.db
        rows = [Assessment.from_db(alias, _CHART_FIELDS, values) for values in scores_read.rows()]
        instrument_of = {row.pk: row.instrument for row in rows}
        open_alerts: dict[str, int] = {}
        for (assessment_id,) in alerts_read.rows():
            instrument = instrument_of.get(assessment_id)
            if instrument is None:
                # An alert on an assessment filed under another record: count as before.
                return _build(rows, _open_alerts_of(patient_id), overrides)
            open_alerts[instrument] = open_alerts.get(instrument, 0) + 1
        return _build(rows, open_alerts, overrides)

    return build


def instrument_scores(
    patient: Patient,
    instrument: str,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> InstrumentScores | None:
    """One instrument's scores (None when the patient has none), in two queries at most."""
    rows = list(
        Assessment.objects.filter(patient=patient, instrument=instrument)
        .only(*SHOWN_FIELDS)
        .order_by("answered_at", "pk")
    )
    if not rows:
        return None
    found = _build(rows, _open_alerts(patient, instrument), overrides)
    return found[0] if found else None


def dosing_times(patient: Patient, *, now: datetime | None = None) -> list[datetime]:
    """When the patient's dosing sessions started, oldest first: those not cancelled and not
    still to come. One query; none, and no sessions, where the dosing app is not installed."""
    try:
        from kapstone.dosing.models import DosingSession
        from kapstone.dosing.rules import SessionStatus
    except ImportError:
        return []
    return list(
        DosingSession.objects.filter(patient=patient, scheduled_start__lte=now or timezone.now())
        .exclude(status=SessionStatus.CANCELLED)
        .order_by("scheduled_start")
        .values_list("scheduled_start", flat=True)
    )
