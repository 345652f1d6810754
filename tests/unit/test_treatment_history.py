import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.clinical.config import ClinicConfig
from kapstone.clinical.treatment_history import (
    MedicationTrial,
    PsychotherapyCourse,
    ResistanceRules,
    Response,
    summarise,
)

RULES = ResistanceRules(
    medication_min_weeks=6, psychotherapy_min_sessions=8, failed_medication_trials_required=2
)


def trial(weeks=8, adequate=True, response=Response.NONE, drug_class="ssri", drug="Sertraline"):
    return MedicationTrial(drug, drug_class, weeks, adequate, response)


@pytest.mark.parametrize(
    ("trials", "failed", "meets"),
    [
        ([], 0, False),
        ([trial()], 1, False),
        ([trial(), trial(drug_class="snri", drug="Venlafaxine")], 2, True),
        # Too short to count: 5 weeks is under the 6-week minimum.
        ([trial(weeks=5), trial()], 1, False),
        ([trial(weeks=6), trial(weeks=6)], 2, True),  # exactly the minimum counts
        # The prescriber did not judge the dose adequate.
        ([trial(adequate=False), trial()], 1, False),
        # A trial that worked is not a failure.
        ([trial(response=Response.RESPONSE), trial()], 1, False),
        ([trial(response=Response.REMISSION), trial()], 1, False),
        ([trial(response=Response.PARTIAL), trial()], 2, True),
        # Stopped for side effects: intolerance, listed apart, not counted as a failure.
        ([trial(response=Response.NOT_TOLERATED), trial()], 1, False),
        ([trial(response=Response.UNKNOWN), trial()], 1, False),
    ],
)
def test_failed_adequate_medication_trials(trials, failed, meets):
    summary = summarise(trials, [], RULES)
    assert len(summary.failed_medication_trials) == failed
    assert summary.meets_definition is meets


def test_intolerance_and_inadequate_trials_are_counted_apart():
    summary = summarise(
        [trial(response=Response.NOT_TOLERATED), trial(weeks=2), trial(adequate=False)], [], RULES
    )
    assert len(summary.not_tolerated) == 1
    assert summary.inadequate_trials == 2


@pytest.mark.parametrize(
    ("sessions", "response", "failed"),
    [
        (8, Response.NONE, 1),
        (7, Response.NONE, 0),
        (20, Response.PARTIAL, 1),
        (20, Response.RESPONSE, 0),
    ],
)
def test_psychotherapy_courses(sessions, response, failed):
    summary = summarise([], [PsychotherapyCourse("cbt", sessions, response)], RULES)
    assert len(summary.failed_psychotherapy_courses) == failed


def test_failed_drug_classes_are_distinct_and_sorted():
    summary = summarise(
        [trial(drug_class="snri"), trial(drug_class="ssri"), trial(drug_class="ssri")], [], RULES
    )
    assert summary.failed_drug_classes == ("snri", "ssri")


def test_sentence():
    summary = summarise([trial()], [PsychotherapyCourse("cbt", 12, Response.NONE)], RULES)
    assert summary.sentence == (
        "1 adequate medication trial failed; 1 adequate psychotherapy course failed"
    )


def test_rules_come_from_clinic_settings():
    config = ClinicConfig({"treatment_resistance": {"medication_min_weeks": 8}})
    rules = ResistanceRules.from_config(config.treatment_resistance)
    assert rules.medication_min_weeks == 8
    assert summarise([trial(weeks=6)], [], rules).failed_medication_trials == ()


def test_unknown_clinic_setting_is_refused():
    with pytest.raises(KeyError):
        ClinicConfig({"treatment_resistence": {}})


trials_strategy = st.lists(
    st.builds(
        MedicationTrial,
        drug=st.sampled_from(["A", "B", "C"]),
        drug_class=st.sampled_from(["ssri", "snri", "tca"]),
        weeks=st.integers(0, 60),
        adequate_dose=st.booleans(),
        response=st.sampled_from(list(Response)),
    ),
    max_size=8,
)


@given(trials_strategy, trials_strategy)
def test_adding_trials_never_lowers_the_failed_count(first, more):
    before = summarise(first, [], RULES)
    after = summarise(first + more, [], RULES)
    assert len(after.failed_medication_trials) >= len(before.failed_medication_trials)
    assert after.meets_definition >= before.meets_definition


@given(trials_strategy)
def test_every_trial_is_counted_once(trials):
    summary = summarise(trials, [], RULES)
    assert len(summary.failed_medication_trials) + len(
        summary.not_tolerated
    ) + summary.inadequate_trials + sum(
        1
        for t in trials
        if t.adequate_dose
        and t.weeks >= 6
        and t.response in (Response.RESPONSE, Response.REMISSION, Response.UNKNOWN)
    ) == len(trials)
