import dataclasses
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.clinical import eligibility
from kapstone.clinical.eligibility import (
    BloodPressure,
    Kind,
    Outcome,
    ScreeningFacts,
    Status,
    can_override,
    check_can_override,
    rule_set,
    screen,
)
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.errors import InvalidInput, InvalidInputs

RULES = rule_set("v1")
NO_TO_ALL = MappingProxyType({question.id: False for question in RULES.questions})

# Every fact known, nothing of concern: eligible.
CLEAR = ScreeningFacts(
    diagnosis_codes=("F41.1",),
    allergies=("penicillin",),
    current_drug_classes=("ssri",),
    blood_pressure=BloodPressure(128, 82),
    sex_at_birth="female",
    scores=MappingProxyType({"auditc": 2, "dast10": 0}),
    has_escort=True,
    answers=NO_TO_ALL,
)


def facts(**changes):
    return dataclasses.replace(CLEAR, **changes)


def answered(**answers):
    return facts(answers=MappingProxyType({**NO_TO_ALL, **answers}))


def test_everything_clear_is_eligible():
    result = screen(CLEAR, RULES)
    assert result.outcome is Outcome.ELIGIBLE
    assert result.reasons == () and result.unanswered == ()
    assert result.rule_set_version == "v1"
    assert {f.rule_id for f in result.findings} == {r.id for r in RULES.rules}


# Each rule alone: the one fact that meets it, and the outcome its kind gives.
EACH_RULE = [
    ("vascular_disease", answered(aneurysmal_vascular_disease=True), Outcome.NOT_ELIGIBLE),
    ("vascular_disease", answered(arteriovenous_malformation=True), Outcome.NOT_ELIGIBLE),
    ("intracerebral_haemorrhage", answered(intracerebral_haemorrhage=True), Outcome.NOT_ELIGIBLE),
    ("ketamine_hypersensitivity", facts(allergies=("Ketamine",)), Outcome.NOT_ELIGIBLE),
    ("ketamine_hypersensitivity", facts(allergies=("esketamine hcl",)), Outcome.NOT_ELIGIBLE),
    ("ketamine_hypersensitivity", facts(allergies=("SPRAVATO",)), Outcome.NOT_ELIGIBLE),
    ("psychosis", facts(diagnosis_codes=("F41.1", "F20.9")), Outcome.NOT_ELIGIBLE),
    ("psychosis", facts(diagnosis_codes=("f25.0",)), Outcome.NOT_ELIGIBLE),
    ("psychosis", answered(psychosis_history=True), Outcome.NOT_ELIGIBLE),
    ("pregnancy", answered(pregnant=True), Outcome.NOT_ELIGIBLE),
    ("breastfeeding", answered(breastfeeding=True), Outcome.ELIGIBLE_WITH_PRECAUTIONS),
    (
        "cardiovascular_disease",
        answered(cardiovascular_disease=True),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "elevated_blood_pressure",
        facts(blood_pressure=BloodPressure(141, 80)),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "elevated_blood_pressure",
        facts(blood_pressure=BloodPressure(130, 91)),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "alcohol_use",
        facts(scores=MappingProxyType({"auditc": 3, "dast10": 0})),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "drug_use",
        facts(scores=MappingProxyType({"auditc": 0, "dast10": 3})),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "substance_use_history",
        facts(diagnosis_codes=("F10.20",)),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "substance_use_history",
        answered(substance_use_history=True),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    ("no_escort", facts(has_escort=False), Outcome.ELIGIBLE_WITH_PRECAUTIONS),
    (
        "sedating_or_pressor_medication",
        facts(current_drug_classes=("ssri", "benzodiazepine")),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "sedating_or_pressor_medication",
        facts(current_drug_classes=("maoi",)),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
    (
        "fear_of_altered_states",
        answered(fear_of_altered_states=True),
        Outcome.ELIGIBLE_WITH_PRECAUTIONS,
    ),
]


@pytest.mark.parametrize(("rule_id", "given_facts", "outcome"), EACH_RULE)
def test_each_rule_alone(rule_id, given_facts, outcome):
    result = screen(given_facts, RULES)
    assert result.outcome is outcome
    assert [f.rule_id for f in result.reasons] == [rule_id]
    (reason,) = result.reasons
    assert reason.met_by and reason.source


def test_every_rule_is_exercised_by_the_table():
    assert {rule_id for rule_id, _, _ in EACH_RULE} == {rule.id for rule in RULES.rules}


@pytest.mark.parametrize(
    ("given_facts", "rule_id"),
    [
        # Nicotine (F17) is not a substance-use precaution; anxiety codes are nothing here.
        (facts(diagnosis_codes=("F17.210", "F41.0", "F43.10")), None),
        (facts(allergies=()), None),  # no known allergies
        (facts(allergies=("latex", "penicillin")), None),
        (facts(blood_pressure=BloodPressure(140, 90)), None),  # "above" 140/90, not at
        (facts(current_drug_classes=()), None),
        (facts(current_drug_classes=("ssri", "snri", "beta_blocker")), None),
    ],
)
def test_facts_that_meet_no_rule(given_facts, rule_id):
    assert screen(given_facts, RULES).outcome is Outcome.ELIGIBLE


@pytest.mark.parametrize(
    ("sex", "total", "met"),
    [
        ("male", 3, False),
        ("male", 4, True),
        ("female", 2, False),
        ("female", 3, True),
        # Any other sex at birth: the lower cut-off.
        ("intersex", 3, True),
        ("unknown", 2, False),
        (None, 3, True),
    ],
)
def test_auditc_cut_off_by_sex(sex, total, met):
    result = screen(
        facts(sex_at_birth=sex, scores=MappingProxyType({"auditc": total, "dast10": 0})), RULES
    )
    finding = next(f for f in result.findings if f.rule_id == "alcohol_use")
    assert (finding.status is Status.MET) is met


@pytest.mark.parametrize(("total", "met"), [(t, t >= 3) for t in range(11)])
def test_dast10_moderate_band_and_above(total, met):
    result = screen(facts(scores=MappingProxyType({"auditc": 0, "dast10": total})), RULES)
    assert ("drug_use" in [f.rule_id for f in result.reasons]) is met


@pytest.mark.parametrize(
    ("unknown", "rule_id", "needs"),
    [
        ({"diagnosis_codes": None}, "psychosis", ("diagnosis_codes",)),
        ({"allergies": None}, "ketamine_hypersensitivity", ("allergies",)),
        (
            {"current_drug_classes": None},
            "sedating_or_pressor_medication",
            ("current_drug_classes",),
        ),
        ({"blood_pressure": None}, "elevated_blood_pressure", ("blood_pressure",)),
        ({"has_escort": None}, "no_escort", ("has_escort",)),
        ({"scores": MappingProxyType({"dast10": 0})}, "alcohol_use", ("auditc",)),
        ({"scores": MappingProxyType({"auditc": 0})}, "drug_use", ("dast10",)),
        (
            {"answers": MappingProxyType({k: v for k, v in NO_TO_ALL.items() if k != "pregnant"})},
            "pregnancy",
            ("pregnant",),
        ),
    ],
)
def test_an_unknown_fact_needs_an_answer_and_never_passes(unknown, rule_id, needs):
    result = screen(facts(**unknown), RULES)
    assert result.outcome is Outcome.INCOMPLETE
    finding = next(f for f in result.findings if f.rule_id == rule_id)
    assert finding.status is Status.UNKNOWN
    assert finding.needs == needs
    assert set(needs) <= set(result.needs)


def test_nothing_known_asks_for_everything():
    result = screen(ScreeningFacts(), RULES)
    assert result.outcome is Outcome.INCOMPLETE
    assert {f.rule_id for f in result.unanswered} == {r.id for r in RULES.rules}
    assert set(result.needs) >= {q.id for q in RULES.questions}


def test_a_contraindication_decides_even_with_questions_open():
    result = screen(ScreeningFacts(answers=MappingProxyType({"pregnant": True})), RULES)
    assert result.outcome is Outcome.NOT_ELIGIBLE
    assert [f.rule_id for f in result.contraindications] == ["pregnancy"]
    assert result.unanswered  # still listed, to be answered


def test_a_met_rule_asks_nothing_more():
    # A psychotic-disorder code meets the rule; its question no longer needs an answer.
    result = screen(
        facts(
            diagnosis_codes=("F20.9",),
            answers=MappingProxyType(
                {k: v for k, v in NO_TO_ALL.items() if k != "psychosis_history"}
            ),
        ),
        RULES,
    )
    assert "psychosis_history" not in result.needs


def test_every_reason_is_listed_contraindications_first():
    result = screen(
        facts(has_escort=False, allergies=("ketamine",), blood_pressure=BloodPressure(150, 95)),
        RULES,
    )
    assert result.outcome is Outcome.NOT_ELIGIBLE
    assert [f.rule_id for f in result.reasons] == [
        "ketamine_hypersensitivity",
        "elevated_blood_pressure",
        "no_escort",
    ]
    assert [f.kind for f in result.reasons] == [Kind.ABSOLUTE, Kind.PRECAUTION, Kind.PRECAUTION]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"answers": MappingProxyType({"not_a_question": True})}, "not_a_question"),
        ({"answers": MappingProxyType({"pregnant": "yes"})}, "pregnant"),
        ({"scores": MappingProxyType({"auditc": 13})}, "auditc"),
        ({"scores": MappingProxyType({"auditc": -1})}, "auditc"),
        ({"scores": MappingProxyType({"dast10": 2.5})}, "dast10"),
        ({"scores": MappingProxyType({"nope": 1})}, "nope"),
        ({"sex_at_birth": "m"}, "sex_at_birth"),
        ({"blood_pressure": BloodPressure(80, 120)}, "blood_pressure"),
        ({"blood_pressure": BloodPressure(0, 0)}, "blood_pressure"),
    ],
)
def test_impossible_facts_are_refused_naming_the_field(bad, field):
    with pytest.raises(InvalidInputs) as caught:
        screen(facts(**bad), RULES)
    assert [error.field for error in caught.value.errors] == [field]


def test_every_rule_cites_a_source_or_says_it_has_none():
    for rule in RULES.rules:
        assert "clinical-facts.md" in rule.source or rule.source.startswith("no source")
    assert RULES.rule("psychosis").unconfirmed
    assert RULES.rule("fear_of_altered_states").unconfirmed
    assert not RULES.rule("pregnancy").unconfirmed


def test_the_newest_rule_set_is_the_default():
    assert rule_set().version == eligibility.versions()[-1]
    assert screen(CLEAR).rule_set_version == eligibility.versions()[-1]


# ---------------------------------------------------------------------------------------------
# Clinic configuration


def test_a_clinic_can_disable_a_rule():
    rules = rule_set("v1", {"rules": {"no_escort": {"enabled": False}}})
    result = screen(facts(has_escort=False), rules)
    assert result.outcome is Outcome.ELIGIBLE
    assert "no_escort" not in [f.rule_id for f in result.findings]
    assert result.clinic_changes == ("no_escort",)


def test_a_clinic_can_change_a_threshold():
    rules = rule_set("v1", {"rules": {"alcohol_use": {"score": {"at_least": {"female": 5}}}}})
    three = facts(scores=MappingProxyType({"auditc": 3, "dast10": 0}))
    assert screen(three, RULES).outcome is Outcome.ELIGIBLE_WITH_PRECAUTIONS
    assert screen(three, rules).outcome is Outcome.ELIGIBLE
    finding = next(f for f in screen(three, rules).findings if f.rule_id == "alcohol_use")
    assert finding.clinic_setting
    # The male cut-off is untouched.
    assert rules.rule("alcohol_use").checks[0].at_least_by_sex["male"] == 4


def test_a_clinic_can_make_a_precaution_a_contraindication():
    rules = rule_set("v1", {"rules": {"no_escort": {"kind": "absolute"}}})
    assert screen(facts(has_escort=False), rules).outcome is Outcome.NOT_ELIGIBLE


def test_the_shipped_rule_set_is_unchanged_by_a_clinic_override():
    rule_set("v1", {"rules": {"drug_use": {"enabled": False}}})
    assert rule_set("v1").rule("drug_use").enabled


@pytest.mark.parametrize(
    "overrides",
    [
        {"rules": {"no_escrot": {"enabled": False}}},  # a misspelt rule
        {"rules": {"no_escort": {"enabld": False}}},  # a misspelt key
        {"rules": {"no_escort": {"source": "our policy"}}},  # the source is reviewed text
        {"rules": {"no_escort": {"label": "x"}}},
        {"questions": {"pregnant": {"text": "x"}}},
        {"rules": {"alcohol_use": {"score": {"at_least": {"male": 13}}}}},  # off the scale
        {"rules": {"drug_use": {"score": {"bands": ["high"]}}}},  # not a DAST-10 band
        {"rules": {"no_escort": {"kind": "sometimes"}}},
    ],
)
def test_clinic_overrides_that_break_the_rules_are_refused(overrides):
    with pytest.raises(DefinitionError):
        rule_set("v1", overrides)


def test_an_unknown_rule_set_version_is_refused():
    with pytest.raises(InvalidInput) as caught:
        rule_set("v99")
    assert caught.value.field == "rule_set_version"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda d: d["rules"]["psychosis"].update(diagnoses={"code_prefixes": ["Q99.9Z"]}),
            "ICD-10",
        ),
        (lambda d: d["questions"].update(unused={"text": "Unused?"}), "no rule uses"),
        (lambda d: d["rules"]["pregnancy"].pop("answers"), "checks no fact"),
        (lambda d: d["rules"]["pregnancy"].update(colour="red"), "unknown key"),
        (lambda d: d["rules"]["drug_use"]["score"].update(at_least=3), "either at_least or bands"),
        (
            lambda d: d["rules"]["sedating_or_pressor_medication"].update(
                medications={"drug_classes": ["ketamine"]}
            ),
            "not a drug class",
        ),
    ],
)
def test_a_broken_rule_file_is_refused(change, fragment):
    import copy

    data = copy.deepcopy(dict(RULES.raw))
    change(data)
    with pytest.raises(DefinitionError, match=fragment):
        eligibility.parse(data)


# ---------------------------------------------------------------------------------------------
# Overriding 'not eligible'

REASON = "Aneurysm repaired in 2019; cleared by vascular surgery in writing."


@pytest.mark.parametrize(
    ("outcome", "roles", "reason", "field"),
    [
        (Outcome.NOT_ELIGIBLE, ["prescriber"], REASON, None),
        (Outcome.NOT_ELIGIBLE, ["nurse", "prescriber"], REASON, None),
        (Outcome.NOT_ELIGIBLE, ["nurse"], REASON, "roles"),
        (Outcome.NOT_ELIGIBLE, ["therapist", "clinic_admin"], REASON, "roles"),
        (Outcome.NOT_ELIGIBLE, [], REASON, "roles"),
        (Outcome.NOT_ELIGIBLE, ["not_a_role"], REASON, "roles"),
        (Outcome.NOT_ELIGIBLE, ["prescriber"], "", "reason"),
        (Outcome.NOT_ELIGIBLE, ["prescriber"], "   ", "reason"),
        (Outcome.NOT_ELIGIBLE, ["prescriber"], None, "reason"),
        (Outcome.NOT_ELIGIBLE, ["prescriber"], "ok", "reason"),
        (Outcome.NOT_ELIGIBLE, ["prescriber"], "x" * 2001, "reason"),
        (Outcome.ELIGIBLE, ["prescriber"], REASON, "outcome"),
        (Outcome.ELIGIBLE_WITH_PRECAUTIONS, ["prescriber"], REASON, "outcome"),
        # Open questions are answered, not overridden.
        (Outcome.INCOMPLETE, ["prescriber"], REASON, "outcome"),
    ],
)
def test_only_a_prescriber_overrides_not_eligible_with_a_written_reason(
    outcome, roles, reason, field
):
    if reason is not None:  # without a reason, can_override answers whether to offer it
        assert can_override(outcome, roles, reason) is (field is None)
    if field is None:
        assert check_can_override(outcome, roles, reason) == reason.strip()
    else:
        with pytest.raises(InvalidInput) as caught:
            check_can_override(outcome, roles, reason)
        assert caught.value.field == field


@pytest.mark.parametrize(
    ("outcome", "roles", "offered"),
    [
        (Outcome.NOT_ELIGIBLE, ["prescriber"], True),
        (Outcome.NOT_ELIGIBLE, ["nurse"], False),
        (Outcome.ELIGIBLE, ["prescriber"], False),
    ],
)
def test_can_override_without_a_reason_says_whether_to_offer_it(outcome, roles, offered):
    assert can_override(outcome, roles) is offered


# ---------------------------------------------------------------------------------------------
# Properties

SEVERITY = {
    Outcome.ELIGIBLE: 0,
    Outcome.ELIGIBLE_WITH_PRECAUTIONS: 1,
    Outcome.NOT_ELIGIBLE: 3,
}


@given(
    st.dictionaries(st.sampled_from([q.id for q in RULES.questions]), st.booleans()),
    st.sampled_from([q.id for q in RULES.questions]),
)
def test_a_yes_never_makes_the_outcome_better(answers, question):
    before = screen(answered(**answers), RULES)
    after = screen(answered(**{**answers, question: True}), RULES)
    assert SEVERITY[after.outcome] >= SEVERITY[before.outcome]


@given(st.dictionaries(st.sampled_from([q.id for q in RULES.questions]), st.booleans()))
def test_not_eligible_exactly_when_a_contraindication_is_met(answers):
    result = screen(ScreeningFacts(answers=MappingProxyType(answers)), RULES)
    assert (result.outcome is Outcome.NOT_ELIGIBLE) is bool(result.contraindications)
    if result.outcome is not Outcome.NOT_ELIGIBLE:
        assert result.outcome is Outcome.INCOMPLETE  # the record's facts are all unknown
