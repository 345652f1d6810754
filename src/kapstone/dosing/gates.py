"""The two gates of a dosing session: the pre-dose check and discharge. Pure Python.

Each gate takes the facts (what the nurse confirmed and measured, what the record says) and the
protocol's rules, and returns findings: each names the item, how serious it is and the source
of the rule. A rule without a source in ``clinical-facts.md`` is the clinic's to set and says so;
until set it is not applied, or (weight) any change needs the prescriber.

Pre-dose outcome: **clear**, **needs review** (a prescriber decides, with a written reason) or
**hold** (no dose today until what is missing is put right). Discharge is allowed when nothing
stands in the way, or when a prescriber overrides with a reason.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.monitoring.vitals import Reading, Threshold, Vital, alerts_for, thresholds


class Outcome(StrEnum):
    CLEAR = "clear"
    NEEDS_REVIEW = "needs_review"
    HOLD = "hold"

    @property
    def label(self) -> str:
        return {"clear": "Clear", "needs_review": "Needs prescriber review", "hold": "Hold"}[
            self.value
        ]


_RANK = {Outcome.CLEAR: 0, Outcome.NEEDS_REVIEW: 1, Outcome.HOLD: 2}


@dataclass(frozen=True)
class Finding:
    item: str
    outcome: Outcome
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.item}: {self.message}"


NO_SOURCE = "no source in clinical-facts.md; the clinic sets it"

# ---------------------------------------------------------------------------------------------
# Pre-dose check


class PregnancyTest(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    NOT_DONE = "not_done"


class SuicideRisk(StrEnum):
    """The C-SSRS screener's triage (clinical-facts.md §3.9)."""

    NONE = "none"
    LOW_MODERATE = "low_moderate"
    SEVERE = "severe"


# The baseline vitals every pre-dose check takes (clinical-facts.md §2.1: BP before dosing,
# pulse oximetry at each session).
BASELINE_VITALS = (Vital.SYSTOLIC_BP, Vital.DIASTOLIC_BP, Vital.HEART_RATE, Vital.SPO2)
BASELINE_SOURCE = (
    "clinical-facts.md §2.1 (BP before dosing; respiratory status with pulse oximetry at each "
    "session); §2.3 (APA consensus: baseline BP)"
)


@dataclass(frozen=True)
class PreDoseRules:
    """The protocol's pre-dose rules. ``None`` means the clinic has not set one."""

    fasting_hours: Decimal | None = None
    fasting_source: str = NO_SOURCE
    pregnancy_test_required: bool = False
    pregnancy_source: str = NO_SOURCE
    weight_tolerance_percent: Decimal | None = None
    weight_source: str = NO_SOURCE
    # The alert thresholds of kapstone.monitoring.vitals (BP above 140/90: review before
    # dosing, clinical-facts.md §2.1), with a clinic's overrides.
    thresholds: Mapping[Vital, Threshold] = field(default_factory=thresholds)
    # A BP at which the dose is held outright: none has a source (clinical-facts.md §2.1 warns
    # against the "160/100" figure), so only a clinic's own setting holds for BP.
    hold_systolic_above: Decimal | None = None
    hold_diastolic_above: Decimal | None = None


CLINIC_SETTING = "clinic setting"
# The clinic's "monitoring.pre_dose" settings and what each must be.
PRE_DOSE_SETTINGS = {
    "fasting_hours": "a number of hours from 0 to 24",
    "pregnancy_test_required": "true or false",
    "weight_tolerance_percent": "a percentage above 0 and at most 50",
    "hold_systolic_above": "a pressure from 100 to 250 mmHg",
    "hold_diastolic_above": "a pressure from 60 to 150 mmHg",
}
_PRE_DOSE_RANGES = {
    "fasting_hours": (Decimal(0), Decimal(24), True),
    "weight_tolerance_percent": (Decimal(0), Decimal(50), False),
    "hold_systolic_above": (Decimal(100), Decimal(250), True),
    "hold_diastolic_above": (Decimal(60), Decimal(150), True),
}


def pre_dose_rules(
    settings: Mapping[str, object] | None = None,
    *,
    limits: Mapping[Vital, Threshold] | None = None,
) -> PreDoseRules:
    """The pre-dose rules with a clinic's "monitoring.pre_dose" settings, each checked.

    clinical-facts.md gives no fasting time, weight tolerance or BP at which to hold (§2.1
    gives 140/90 as a point for review, which the alert thresholds carry), and the
    esketamine label advises against use in pregnancy without asking for a test (§2.1): each
    stays off until the clinic sets it, and a set value is shown as the clinic's.
    """
    settings = dict(settings or {})
    values: dict[str, object] = {}
    for key, raw in settings.items():
        if key not in PRE_DOSE_SETTINGS:
            raise InvalidInput(f"monitoring.pre_dose.{key}", "is not a pre-dose setting")
        rule = PRE_DOSE_SETTINGS[key]
        if key == "pregnancy_test_required":
            if not isinstance(raw, bool):
                raise InvalidInput(f"monitoring.pre_dose.{key}", f"must be {rule}")
            values[key] = raw
            continue
        low, high, low_included = _PRE_DOSE_RANGES[key]
        number = None
        if not isinstance(raw, bool) and isinstance(raw, (int, float, str, Decimal)):
            try:
                number = Decimal(str(raw))
            except InvalidOperation:
                number = None
        if (
            number is None
            or not number.is_finite()
            or number > high
            or number < low
            or (number == low and not low_included)
        ):
            raise InvalidInput(f"monitoring.pre_dose.{key}", f"must be {rule}")
        values[key] = number
    sources = {}
    if "fasting_hours" in values:
        sources["fasting_source"] = CLINIC_SETTING
    if "pregnancy_test_required" in values:
        sources["pregnancy_source"] = CLINIC_SETTING
    if "weight_tolerance_percent" in values:
        sources["weight_source"] = CLINIC_SETTING
    return PreDoseRules(
        **values, **sources, **({"thresholds": limits} if limits is not None else {})
    )


@dataclass(frozen=True)
class PreDoseFacts:
    fasting_hours: Decimal | None = None  # hours since the patient last ate, as they report
    escort_confirmed: bool = False
    consent_current: bool = False
    plan_signed: bool = False
    plan_weight_kg: Decimal | None = None  # the plan's weight, for a weight-based dose
    weight_kg: Decimal | None = None
    pregnancy_test: PregnancyTest | None = None
    gad7_total: int | None = None
    phq9_item9: int | None = None
    suicide_risk: SuicideRisk | None = None
    readings: tuple[Reading, ...] = ()


@dataclass(frozen=True)
class PreDoseResult:
    findings: tuple[Finding, ...]

    @property
    def outcome(self) -> Outcome:
        return max((f.outcome for f in self.findings), key=_RANK.get, default=Outcome.CLEAR)

    def reasons(self, outcome: Outcome | None = None) -> list[Finding]:
        return [f for f in self.findings if outcome is None or f.outcome is outcome]


def evaluate_pre_dose(facts: PreDoseFacts, rules: PreDoseRules | None = None) -> PreDoseResult:
    rules = rules or PreDoseRules()
    out: list[Finding] = []

    def hold(item, message, source):
        out.append(Finding(item, Outcome.HOLD, message, source))

    def review(item, message, source):
        out.append(Finding(item, Outcome.NEEDS_REVIEW, message, source))

    if not facts.consent_current:
        hold("consent", "no current informed consent on record", "clinic policy (consent form)")
    if not facts.plan_signed:
        hold("plan", "no signed treatment plan", "clinic policy (signed plan before dosing)")
    if not facts.escort_confirmed:
        hold(
            "escort",
            "no escort confirmed to take the patient home",
            "clinical-facts.md §2.1 (someone must drive the patient home)",
        )
    if rules.fasting_hours is not None:
        if facts.fasting_hours is None:
            hold("fasting", "fasting time not recorded", rules.fasting_source)
        elif facts.fasting_hours < rules.fasting_hours:
            hold(
                "fasting",
                f"the protocol asks for {rules.fasting_hours} hours without food",
                rules.fasting_source,
            )
    if facts.plan_weight_kg is not None:
        if facts.weight_kg is None:
            hold("weight", "today's weight is required for a weight-based dose", NO_SOURCE)
        elif facts.weight_kg != facts.plan_weight_kg:
            change = abs(facts.weight_kg - facts.plan_weight_kg) / facts.plan_weight_kg * 100
            if rules.weight_tolerance_percent is None:
                review(
                    "weight",
                    "differs from the plan's weight and the clinic has set no tolerance",
                    rules.weight_source,
                )
            elif change > rules.weight_tolerance_percent:
                review(
                    "weight",
                    f"differs from the plan's by more than {rules.weight_tolerance_percent} %",
                    rules.weight_source,
                )
    # A positive test holds whether or not the protocol asks for one.
    if facts.pregnancy_test is PregnancyTest.POSITIVE:
        hold(
            "pregnancy_test",
            "is positive",
            "clinical-facts.md §2.1 (esketamine: not recommended in pregnancy)",
        )
    elif rules.pregnancy_test_required and facts.pregnancy_test in (None, PregnancyTest.NOT_DONE):
        hold("pregnancy_test", "the protocol asks for a pregnancy test", rules.pregnancy_source)
    if facts.gad7_total is None and facts.phq9_item9 is None and facts.suicide_risk is None:
        hold(
            "symptom_check",
            "give a GAD-7, PHQ-9 item 9 or C-SSRS before dosing",
            "clinic policy (symptom check before every dose)",
        )
    if facts.phq9_item9 is not None and facts.phq9_item9 > 0:
        review(
            "phq9_item9",
            "thoughts of death or self-harm reported: suicide-risk review",
            "clinical-facts.md §3.2 (route item-9 positives to the suicide-risk workflow)",
        )
    if facts.suicide_risk is SuicideRisk.SEVERE:
        hold(
            "cssrs",
            "severe risk on the C-SSRS triage: referral and safety precautions, not dosing",
            "clinical-facts.md §3.9 (Columbia triage guideline)",
        )
    elif facts.suicide_risk is SuicideRisk.LOW_MODERATE:
        review(
            "cssrs",
            "low-to-moderate risk on the C-SSRS triage: further evaluation",
            "clinical-facts.md §3.9 (Columbia triage guideline)",
        )
    taken = {r.vital: r for r in facts.readings}
    missing = [v.value for v in BASELINE_VITALS if v not in taken]
    if missing:
        hold("baseline_vitals", f"missing: {', '.join(missing)}", BASELINE_SOURCE)
    for alert in alerts_for(facts.readings, rules.thresholds):
        review(
            alert.reading.vital.value,
            f"{alert.rule} {alert.limit} {alert.reading.unit}: review before dosing",
            alert.source,
        )
    for vital, limit in (
        (Vital.SYSTOLIC_BP, rules.hold_systolic_above),
        (Vital.DIASTOLIC_BP, rules.hold_diastolic_above),
    ):
        if limit is not None and vital in taken and taken[vital].value > limit:
            hold(vital.value, f"above {limit} mm[Hg]: dose held", "clinic setting")
    return PreDoseResult(tuple(out))


def check_can_dose(
    result: PreDoseResult, *, reviewed_by_prescriber: bool = False, review_reason: str = ""
) -> None:
    """Refuse the clearance with every reason: any hold; a review not yet given with a reason."""
    errors = [InvalidInput(f.item, f.message) for f in result.reasons(Outcome.HOLD)]
    if result.outcome is Outcome.NEEDS_REVIEW:
        if not reviewed_by_prescriber:
            errors += [
                InvalidInput(f.item, f"{f.message} (needs a prescriber's review)")
                for f in result.reasons(Outcome.NEEDS_REVIEW)
            ]
        elif not review_reason.strip():
            errors.append(InvalidInput("review_reason", "is required to clear after review"))
    if errors:
        raise InvalidInputs(errors)


def can_dose(result: PreDoseResult, **review) -> bool:
    try:
        check_can_dose(result, **review)
    except InvalidInputs:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Modified Aldrete score (clinical-facts.md §2.5)

ALDRETE_SOURCE = "clinical-facts.md §2.5 (modified Aldrete score, Aldrete 1995)"
ALDRETE_ITEMS: dict[str, dict[int, str]] = {
    "activity": {
        2: "moves 4 extremities voluntarily or on command",
        1: "moves 2 extremities",
        0: "moves 0 extremities",
    },
    "respiration": {
        2: "breathes deeply and coughs freely",
        1: "dyspnoea, shallow or limited breathing",
        0: "apnoeic",
    },
    "circulation": {
        2: "BP within 20 mmHg of the pre-dose level",
        1: "BP 20 to 50 mmHg from the pre-dose level",
        0: "BP 50 mmHg or more from the pre-dose level",
    },
    "consciousness": {2: "fully awake", 1: "arousable on calling", 0: "not responding"},
    "oxygenation": {
        2: "SpO2 above 92 % on room air",
        1: "needs O2 to keep SpO2 above 90 %",
        0: "SpO2 below 90 % even with O2",
    },
}
ALDRETE_DISCHARGE_MIN = 9


def aldrete_score(items: Mapping[str, object]) -> int:
    """The total of the five items, each 0 to 2; every missing or bad item reported at once."""
    errors = []
    total = 0
    for name in ALDRETE_ITEMS:
        value = items.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if type(value) is not int or value not in (0, 1, 2):
            errors.append(InvalidInput(f"aldrete_{name}", "must be 0, 1 or 2"))
        else:
            total += value
    unknown = set(items) - set(ALDRETE_ITEMS)
    if unknown:
        errors.append(InvalidInput("aldrete", "has an item the modified Aldrete score lacks"))
    if errors:
        raise InvalidInputs(errors)
    return total


def circulation_item(pre_dose_systolic: Decimal, systolic_now: Decimal) -> int:
    """The circulation item from the pre-dose and current systolic pressures (§2.5: ±20 and
    ±50 mmHg of the pre-dose level)."""
    change = abs(systolic_now - pre_dose_systolic)
    if change <= 20:
        return 2
    if change < 50:
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# Discharge

# The vitals that must be back within limits before the patient leaves.
DISCHARGE_VITALS = (Vital.SYSTOLIC_BP, Vital.DIASTOLIC_BP, Vital.HEART_RATE, Vital.SPO2)


@dataclass(frozen=True)
class DischargeFacts:
    dose_started_at: datetime | None
    now: datetime
    min_monitoring_minutes: int
    monitoring_source: str
    aldrete: Mapping[str, object]
    latest_readings: tuple[Reading, ...]
    escort_present: bool
    instructions_acknowledged: bool
    thresholds: Mapping[Vital, Threshold] | None = None


def discharge_reasons(facts: DischargeFacts) -> list[Finding]:
    """What stands in the way of discharge; empty when the patient may leave."""
    out: list[Finding] = []

    def no(item, message, source):
        out.append(Finding(item, Outcome.HOLD, message, source))

    if facts.dose_started_at is None:
        no("monitoring", "no dose start recorded", facts.monitoring_source)
    else:
        watched = (facts.now - facts.dose_started_at).total_seconds() / 60
        if watched < facts.min_monitoring_minutes:
            no(
                "monitoring",
                f"the protocol's minimum of {facts.min_monitoring_minutes} minutes from the "
                f"dose has not passed ({int(watched)} so far)",
                facts.monitoring_source,
            )
    try:
        score = aldrete_score(facts.aldrete)
    except InvalidInputs as errors:
        for error in errors.errors:
            no(error.field, error.message, ALDRETE_SOURCE)
    else:
        if score < ALDRETE_DISCHARGE_MIN:
            no(
                "aldrete",
                f"modified Aldrete score is {score}; at least {ALDRETE_DISCHARGE_MIN} is needed",
                ALDRETE_SOURCE,
            )
    taken = {r.vital for r in facts.latest_readings}
    missing = [v.value for v in DISCHARGE_VITALS if v not in taken]
    if missing:
        no("vitals", f"no reading yet of {', '.join(missing)}", "clinical-facts.md §2.1")
    for alert in alerts_for(facts.latest_readings, facts.thresholds):
        no(
            alert.reading.vital.value,
            f"latest reading is {alert.rule} {alert.limit} {alert.reading.unit}",
            alert.source,
        )
    if not facts.escort_present:
        no(
            "escort",
            "the escort is not present",
            "clinical-facts.md §2.1 (someone must drive the patient home)",
        )
    if not facts.instructions_acknowledged:
        no(
            "instructions",
            "the discharge instructions are not acknowledged",
            "clinical-facts.md §2.1 (no driving until the next day after a restful sleep)",
        )
    return out


def check_can_discharge(
    facts: DischargeFacts, *, override_by_prescriber: bool = False, override_reason: str = ""
) -> list[Finding]:
    """The reasons overridden (empty when none stood in the way), or InvalidInputs with every
    reason. A prescriber's override needs a written reason."""
    reasons = discharge_reasons(facts)
    if not reasons:
        return []
    if override_by_prescriber:
        if not override_reason.strip():
            raise InvalidInputs([InvalidInput("override_reason", "is required to override")])
        return reasons
    raise InvalidInputs([InvalidInput(r.item, r.message) for r in reasons])


def can_discharge(facts: DischargeFacts, **override) -> bool:
    try:
        check_can_discharge(facts, **override)
    except InvalidInputs:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Vital-sign alerts


def check_can_acknowledge_alert(acknowledged_at: datetime | None) -> None:
    """An alert is acknowledged once: a second acknowledgement would hide the first's action."""
    if acknowledged_at is not None:
        raise InvalidInput(
            "alert", "has already been acknowledged; record anything further as a new entry"
        )


def can_acknowledge_alert(acknowledged_at: datetime | None) -> bool:
    try:
        check_can_acknowledge_alert(acknowledged_at)
    except InvalidInput:
        return False
    return True


DISCHARGE_INSTRUCTIONS = (
    (
        "Do not drive or operate machinery until the next day after a restful sleep.",
        "clinical-facts.md §2.1",
    ),
    ("Go home with your escort; do not leave alone.", "clinical-facts.md §2.1"),
)


def latest(readings: Iterable[Reading]) -> tuple[Reading, ...]:
    """The most recent reading of each vital (readings in time order, later wins)."""
    out: dict[Vital, Reading] = {}
    for reading in readings:
        out[reading.vital] = reading
    return tuple(out.values())
