"""Treatment history and the treatment-resistance summary.

A KAP program is for anxiety that has not yielded to ordinary treatment, so the chart shows
how many adequate trials have failed. The summary counts; the clinician decides. What counts
as adequate comes from the clinic's settings (see data/defaults.toml for their status).
Pure Python.
"""

from dataclasses import dataclass
from enum import StrEnum


class Response(StrEnum):
    NONE = "none"
    PARTIAL = "partial"
    RESPONSE = "response"
    REMISSION = "remission"
    NOT_TOLERATED = "not_tolerated"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {
            "none": "No response",
            "partial": "Partial response",
            "response": "Response",
            "remission": "Remission",
            "not_tolerated": "Stopped: not tolerated",
            "unknown": "Unknown",
        }[self.value]


# A trial 'failed' when it was adequate and did not bring response or remission.
FAILED = frozenset({Response.NONE, Response.PARTIAL})


class PsychotherapyModality(StrEnum):
    CBT = "cbt"
    EXPOSURE = "exposure"
    EMDR = "emdr"
    ART = "art"
    IFS = "ifs"
    ACT = "act"
    PSYCHODYNAMIC = "psychodynamic"
    SOMATIC = "somatic"
    DBT = "dbt"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "cbt": "Cognitive behavioural therapy",
            "exposure": "Exposure therapy",
            "emdr": "EMDR",
            "art": "Accelerated Resolution Therapy",
            "ifs": "Internal Family Systems",
            "act": "Acceptance and commitment therapy",
            "psychodynamic": "Psychodynamic therapy",
            "somatic": "Somatic therapy",
            "dbt": "Dialectical behaviour therapy",
            "other": "Other",
        }[self.value]


@dataclass(frozen=True)
class MedicationTrial:
    drug: str
    drug_class: str
    weeks: int
    adequate_dose: bool
    response: Response


@dataclass(frozen=True)
class PsychotherapyCourse:
    modality: str
    sessions: int
    response: Response


@dataclass(frozen=True)
class ResistanceRules:
    medication_min_weeks: int
    psychotherapy_min_sessions: int
    failed_medication_trials_required: int

    @classmethod
    def from_config(cls, section: dict) -> "ResistanceRules":
        return cls(
            medication_min_weeks=int(section["medication_min_weeks"]),
            psychotherapy_min_sessions=int(section["psychotherapy_min_sessions"]),
            failed_medication_trials_required=int(section["failed_medication_trials_required"]),
        )


@dataclass(frozen=True)
class ResistanceSummary:
    failed_medication_trials: tuple[MedicationTrial, ...]
    failed_psychotherapy_courses: tuple[PsychotherapyCourse, ...]
    not_tolerated: tuple[MedicationTrial, ...]
    inadequate_trials: int
    failed_drug_classes: tuple[str, ...]
    meets_definition: bool
    rules: ResistanceRules

    @property
    def sentence(self) -> str:
        meds = len(self.failed_medication_trials)
        courses = len(self.failed_psychotherapy_courses)
        parts = [
            f"{meds} adequate medication trial{'s' if meds != 1 else ''} failed",
            f"{courses} adequate psychotherapy course{'s' if courses != 1 else ''} failed",
        ]
        return "; ".join(parts)


def is_adequate_medication_trial(trial: MedicationTrial, rules: ResistanceRules) -> bool:
    return trial.adequate_dose and trial.weeks >= rules.medication_min_weeks


def is_adequate_course(course: PsychotherapyCourse, rules: ResistanceRules) -> bool:
    return course.sessions >= rules.psychotherapy_min_sessions


def summarise(
    trials: list[MedicationTrial],
    courses: list[PsychotherapyCourse],
    rules: ResistanceRules,
) -> ResistanceSummary:
    failed = tuple(
        t for t in trials if is_adequate_medication_trial(t, rules) and t.response in FAILED
    )
    failed_courses = tuple(
        c for c in courses if is_adequate_course(c, rules) and c.response in FAILED
    )
    not_tolerated = tuple(t for t in trials if t.response is Response.NOT_TOLERATED)
    inadequate = sum(
        1
        for t in trials
        if not is_adequate_medication_trial(t, rules) and t.response is not Response.NOT_TOLERATED
    )
    classes = tuple(sorted({t.drug_class for t in failed if t.drug_class}))
    return ResistanceSummary(
        failed_medication_trials=failed,
        failed_psychotherapy_courses=failed_courses,
        not_tolerated=not_tolerated,
        inadequate_trials=inadequate,
        failed_drug_classes=classes,
        meets_definition=len(failed) >= rules.failed_medication_trials_required,
        rules=rules,
    )


class DrugClass(StrEnum):
    """Classes that matter for anxiety treatment history and for ketamine safety checks
    (benzodiazepines, stimulants and MAOIs change sedation and blood pressure: clinical-facts.md
    section 2.1)."""

    SSRI = "ssri"
    SNRI = "snri"
    TCA = "tca"
    MAOI = "maoi"
    BENZODIAZEPINE = "benzodiazepine"
    BUSPIRONE = "buspirone"
    GABAPENTINOID = "gabapentinoid"
    BETA_BLOCKER = "beta_blocker"
    ANTIPSYCHOTIC = "antipsychotic"
    MOOD_STABILISER = "mood_stabiliser"
    ANTIHISTAMINE = "antihistamine"
    STIMULANT = "stimulant"
    OPIOID = "opioid"
    SEDATIVE_HYPNOTIC = "sedative_hypnotic"
    OTHER = "other"

    @property
    def label(self) -> str:
        special = {
            "ssri": "SSRI",
            "snri": "SNRI",
            "tca": "Tricyclic",
            "maoi": "MAOI",
            "beta_blocker": "Beta blocker",
            "mood_stabiliser": "Mood stabiliser",
            "sedative_hypnotic": "Sedative-hypnotic",
        }
        return special.get(self.value, self.value.replace("_", " ").capitalize())
