import copy
import dataclasses
from fractions import Fraction
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.clinical import instruments, presentation
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.clinical.presentation import PresentationInputs, profile
from kapstone.clinical.treatment_history import PsychotherapyModality as M
from kapstone.errors import InvalidInputs


def inputs(measures=None, **checklist):
    return PresentationInputs(MappingProxyType(measures or {}), MappingProxyType(checklist))


@pytest.mark.parametrize(
    ("measure", "maximum"),
    [
        ("hama.psychic", 28),
        ("hama.somatic", 28),
        ("pdss", 28),
        ("lsas.avoidance", 72),
        ("pcl5.cluster_c", 8),
        ("pcl5", 80),
    ],
)
def test_measure_maximum_comes_from_the_instrument_definition(measure, maximum):
    assert presentation.measure_maximum(measure) == maximum


@pytest.mark.parametrize(
    ("given", "extents", "percents", "leading"),
    [
        # HAM-A psychic 14/28 = 1/2; somatic 7/28 = 1/4; nothing about behaviour.
        (
            inputs({"hama.psychic": 14, "hama.somatic": 7}),
            (Fraction(1, 2), Fraction(1, 4), None),
            (67, 33, None),
            ("cognitive",),
        ),
        # Somatic is the mean of HAM-A somatic (21/28) and PDSS (7/28): 1/2.
        (
            inputs({"hama.psychic": 7, "hama.somatic": 21, "pdss": 7}),
            (Fraction(1, 4), Fraction(1, 2), None),
            (33, 67, None),
            ("somatic",),
        ),
        # Behavioral from LSAS avoidance (36/72), PCL-5 cluster C (8/8) and the checklist (yes).
        (
            inputs({"lsas.avoidance": 36, "pcl5.cluster_c": 8}, avoidance=True),
            (None, None, Fraction(5, 6)),
            (None, None, 100),
            ("behavioral",),
        ),
        # Ties lead together; shares still add to 100.
        (
            inputs(worry_rumination=True, physical_symptoms=True, avoidance=True),
            (Fraction(1), Fraction(1), Fraction(1)),
            (34, 33, 33),
            ("cognitive", "somatic", "behavioral"),
        ),
        # Known, and none: no shares and nothing leads.
        (
            inputs({"hama.psychic": 0, "hama.somatic": 0}, avoidance=False),
            (Fraction(0), Fraction(0), Fraction(0)),
            (None, None, None),
            (),
        ),
        (inputs(), (None, None, None), (None, None, None), ()),
    ],
)
def test_domain_extents_and_shares(given, extents, percents, leading):
    result = profile(given)
    assert tuple(d.extent for d in result.domains) == extents
    assert tuple(d.percent for d in result.domains) == percents
    assert result.leading == leading


def test_each_domain_says_how_it_was_derived():
    result = profile(inputs({"hama.somatic": 21, "pdss": 14}, physical_symptoms=False))
    somatic = result.domain("somatic")
    assert somatic.derivation == (
        "Mean of HAM-A somatic anxiety 21 of 28; PDSS total 14 of 28; "
        "Physical symptoms are prominent (racing heart, breathlessness, tension, stomach): no"
    )
    assert "no source" in somatic.source
    assert result.domain("cognitive").derivation.startswith("Nothing known")


def suggested(result):
    return {s.modality: [r.text for r in s.reasons] for s in result.suggestions}


@pytest.mark.parametrize(
    ("given", "modalities"),
    [
        (inputs(trauma_origin=True), {M.EMDR: ["Anxiety rooted in past events"]}),
        (
            inputs({"pcl5": 33}),
            {M.EMDR: ["PCL-5 at or above the provisional PTSD threshold"]},
        ),
        (inputs({"pcl5": 32}), {}),
        (inputs(intrusive_imagery=True), {M.ART: ["Intrusive images"]}),
        (inputs(parts_language=True), {M.IFS: ["Protective parts"]}),
        (
            inputs(avoidance=True),
            {M.CBT: ["Avoidance"], M.EXPOSURE: ["Avoidance"]},
        ),
        (
            inputs({"lsas.avoidance": 60, "hama.psychic": 5}),
            {M.CBT: ["Avoidance"], M.EXPOSURE: ["Avoidance"]},
        ),
        (
            inputs({"hama.psychic": 20, "hama.somatic": 5}),
            {M.CBT: ["Worry and rumination lead the profile"]},
        ),
        (
            inputs({"hama.psychic": 5, "hama.somatic": 20}),
            {M.SOMATIC: ["Body-dominant anxiety: breathwork, progressive muscle relaxation, yoga"]},
        ),
        (
            inputs(physical_symptoms=True, worry_rumination=False),
            {M.SOMATIC: ["Body-dominant anxiety: breathwork, progressive muscle relaxation, yoga"]},
        ),
        # Unticked items suggest nothing.
        (inputs(trauma_origin=False, intrusive_imagery=False, parts_language=False), {}),
        (inputs(), {}),
    ],
)
def test_each_suggestion_rule_alone(given, modalities):
    assert suggested(profile(given)) == modalities


def test_reasons_gather_under_one_modality():
    result = profile(inputs({"pcl5": 50}, trauma_origin=True, avoidance=True))
    assert suggested(result)[M.EMDR] == [
        "Anxiety rooted in past events",
        "PCL-5 at or above the provisional PTSD threshold",
    ]
    assert all(reason.source for s in result.suggestions for reason in s.reasons)


def test_the_pcl5_threshold_follows_the_instrument_definition():
    threshold = instruments.get("pcl5").provisional_diagnosis.threshold
    assert M.EMDR in suggested(profile(inputs({"pcl5": threshold})))
    assert M.EMDR not in suggested(profile(inputs({"pcl5": threshold - 1})))


def test_features_report_trauma_imagery_and_parts_as_given():
    result = profile(inputs(trauma_origin=True, parts_language=False))
    assert dict(result.features) == {
        "trauma_origin": True,
        "intrusive_imagery": None,
        "parts_language": False,
    }


def test_a_suggestion_is_never_a_decision():
    fields = {f.name for f in dataclasses.fields(presentation.Suggestion)}
    assert fields == {"modality", "reasons"}


def test_inputs_from_scores():
    hama = instruments.score("hama", {f"q{i}": 2 for i in range(1, 15)})
    pcl5 = instruments.score("pcl5", {f"q{i}": 1 for i in range(1, 21)})
    given = presentation.inputs_from_scores([hama, pcl5], {"avoidance": True})
    assert given.measures["hama.psychic"] == 14
    assert given.measures["hama.somatic"] == 14
    assert given.measures["pcl5"] == 20
    assert given.measures["pcl5.cluster_c"] == 2
    assert given.checklist == {"avoidance": True}


def test_an_incomplete_score_gives_no_total():
    partial = instruments.score("hama", {"q1": 2})
    assert "hama" not in presentation.inputs_from_scores([partial]).measures


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        (inputs({"hama.psychic": 29}), ["hama.psychic"]),
        (inputs({"pdss": -1}), ["pdss"]),
        (inputs({"hama.nothing": 1}), ["hama.nothing"]),
        (inputs({"gad7.x": 1, "nope": 2}), ["gad7.x", "nope"]),
        (inputs(crying=True), ["crying"]),
        (inputs(avoidance="yes"), ["avoidance"]),
    ],
)
def test_impossible_inputs_are_refused_naming_each_field(given, fields):
    with pytest.raises(InvalidInputs) as caught:
        profile(given)
    assert [error.field for error in caught.value.errors] == fields


def test_the_rules_say_they_have_no_source():
    rules = presentation.rules()
    assert rules.source.startswith("no source in clinical-facts.md")
    for rule in rules.suggestions:
        assert rule.source and rule.reason


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["suggestions"][0].update(modality="reiki"), "modality"),
        (lambda d: d["suggestions"][0].update(checklist=["nope"]), "checklist"),
        (lambda d: d["suggestions"][0].update(checklist=[]), "no trigger"),
        (lambda d: d["suggestions"][1].update(threshold="nope"), "threshold"),
        (lambda d: d["domains"]["somatic"].update(measures=["pdss.nope"]), "not a measure"),
        (lambda d: d["checklist"]["avoidance"].update(domain="spiritual"), "domain"),
    ],
)
def test_a_broken_rules_file_is_refused(change, fragment):
    import tomllib
    from importlib import resources

    text = resources.files("kapstone.clinical").joinpath("data/presentation.toml").read_text()
    data = copy.deepcopy(tomllib.loads(text))
    change(data)
    with pytest.raises(DefinitionError, match=fragment):
        presentation.parse(data)


measures = st.fixed_dictionaries(
    {},
    optional={
        "hama.psychic": st.integers(0, 28),
        "hama.somatic": st.integers(0, 28),
        "pdss": st.integers(0, 28),
        "lsas.avoidance": st.integers(0, 72),
        "pcl5.cluster_c": st.integers(0, 8),
        "pcl5": st.integers(0, 80),
    },
)
checklists = st.dictionaries(
    st.sampled_from([item.id for item in presentation.rules().checklist]), st.booleans()
)


@given(measures, checklists)
def test_shares_add_to_100_and_extents_stay_between_0_and_1(given_measures, checklist):
    result = profile(
        PresentationInputs(MappingProxyType(given_measures), MappingProxyType(checklist))
    )
    percents = [d.percent for d in result.domains if d.percent is not None]
    assert sum(percents) in (0, 100)
    assert all(0 <= d.extent <= 1 for d in result.domains if d.extent is not None)
    assert set(result.leading) <= {d.domain for d in result.domains}
    for suggestion in result.suggestions:
        assert suggestion.reasons
