"""The clinician's checklist as recorded (ticked ids under a rules version) and as the profile
reads it."""

import dataclasses

import pytest

from kapstone.clinical import presentation
from kapstone.clinical.presentation import PresentationInputs, profile
from kapstone.clinical.treatment_history import PsychotherapyModality as M
from kapstone.errors import InvalidInput

RULES = presentation.rules()
ORDER = [item.id for item in RULES.checklist]


@pytest.mark.parametrize(
    ("ticked", "kept"),
    [
        ([], ()),
        (["avoidance"], ("avoidance",)),
        (["parts_language", "worry_rumination"], ("worry_rumination", "parts_language")),
        (["trauma_origin", "trauma_origin"], ("trauma_origin",)),
        (ORDER[::-1], tuple(ORDER)),
    ],
)
def test_ticks_are_kept_once_in_the_checklists_order(ticked, kept):
    assert presentation.check_ticked(ticked, RULES) == kept


@pytest.mark.parametrize("ticked", [["telepathy"], ["avoidance", "Avoidance"], [1], [None]])
def test_an_item_not_on_the_checklist_is_refused_naming_the_field(ticked):
    with pytest.raises(InvalidInput) as refused:
        presentation.check_ticked(ticked, RULES)

    assert refused.value.field == "ticked"
    assert refused.value.message == "must be items of the presentation checklist"


@pytest.mark.parametrize(
    ("ticked", "version", "expected"),
    [
        # Same version: every item answered, unticked is a no.
        ([], "v1", dict.fromkeys(ORDER, False)),
        (["avoidance"], "v1", {**dict.fromkeys(ORDER, False), "avoidance": True}),
        # Another version asked other items: its ticks still on the list count, nothing else.
        (["avoidance", "retired_item"], "v0", {"avoidance": True}),
        ([], "v0", {}),
        # An id no longer on the checklist is dropped, not refused: the record stays readable.
        (["retired_item"], "v1", dict.fromkeys(ORDER, False)),
    ],
)
def test_a_review_as_the_profile_reads_it(ticked, version, expected):
    assert presentation.checklist_from_ticks(ticked, version, RULES) == expected


@pytest.mark.parametrize(
    ("ticked", "leading", "modalities"),
    [
        ([], (), set()),
        (["worry_rumination"], ("cognitive",), {M.CBT}),
        (["physical_symptoms"], ("somatic",), {M.SOMATIC}),
        (["avoidance"], ("behavioral",), {M.CBT, M.EXPOSURE}),
        (["trauma_origin"], (), {M.EMDR}),
        (["intrusive_imagery"], (), {M.ART}),
        (["parts_language"], (), {M.IFS}),
        (
            ["worry_rumination", "avoidance"],
            ("cognitive", "behavioral"),
            {M.CBT, M.EXPOSURE},
        ),
    ],
)
def test_a_reviewed_checklist_alone_drives_the_profile(ticked, leading, modalities):
    checklist = presentation.checklist_from_ticks(ticked, RULES.version, RULES)

    result = profile(PresentationInputs(checklist=checklist), RULES)

    assert result.leading == leading
    assert {s.modality for s in result.suggestions} == modalities


def test_an_unreviewed_checklist_leaves_the_features_not_known():
    result = profile(PresentationInputs(checklist={}), RULES)

    assert dict(result.features) == {
        "trauma_origin": None,
        "intrusive_imagery": None,
        "parts_language": None,
    }


def test_a_reviewed_checklist_answers_every_feature():
    checklist = presentation.checklist_from_ticks(["parts_language"], RULES.version, RULES)

    result = profile(PresentationInputs(checklist=checklist), RULES)

    assert dict(result.features) == {
        "trauma_origin": False,
        "intrusive_imagery": False,
        "parts_language": True,
    }


def test_a_newer_rules_version_reads_an_older_review_by_its_ticks_only():
    newer = dataclasses.replace(RULES, version="v2")

    checklist = presentation.checklist_from_ticks(["trauma_origin"], "v1", newer)

    assert checklist == {"trauma_origin": True}
