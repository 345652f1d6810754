"""Scoring: spec tables per instrument, every band edge, published vectors, missing items,
the C-SSRS triage, and the errors."""

import pytest

from kapstone.clinical import instruments
from kapstone.clinical.instruments import answers_from_list, score
from kapstone.errors import InvalidInput

from .helpers import lowest, with_total

# --- Spec tables -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "answers", "total", "band"),
    [
        ("gad7", [0, 0, 0, 0, 0, 0, 0], 0, "minimal"),
        ("gad7", [1, 2, 1, 2, 1, 2, 1], 10, "moderate"),
        ("gad7", [3, 3, 3, 3, 3, 3, 3], 21, "severe"),
        ("phq9", [0, 1, 2, 3, 0, 1, 2, 3, 0], 12, "moderate"),
        ("phq9", [2, 2, 2, 2, 2, 2, 2, 2, 0], 16, "moderately_severe"),
        ("hama", [4] * 14, 56, "severe"),
        ("hama", [1] * 14, 14, "mild"),
        ("auditc", [4, 0, 0], 4, None),
        ("auditc", [4, 4, 4], 12, None),
        ("spin", [1] * 17, 17, None),
        ("cadss", [4] * 23, 92, None),
        ("cadss", [0] * 22 + [3], 3, None),
        ("pcl5", [1] * 20, 20, None),
    ],
)
def test_totals_and_bands(instrument_id, answers, total, band):
    result = score(instrument_id, answers_from_list(instrument_id, answers))
    assert result.total == total
    assert (result.band.id if result.band else None) == band
    assert result.complete and result.missing == ()
    assert result.flags == ()


def test_gad7_cutoff():
    assert score("gad7", with_total(instruments.get("gad7"), 9)).extra["cutoffs"] == {
        "probable_gad": False
    }
    assert score("gad7", with_total(instruments.get("gad7"), 10)).extra["cutoffs"] == {
        "probable_gad": True
    }


@pytest.mark.parametrize(("total", "at_cutoff"), [(18, False), (19, True), (68, True), (0, False)])
def test_spin_cutoff_19(total, at_cutoff):
    result = score("spin", with_total(instruments.get("spin"), total))
    assert result.extra["cutoffs"] == {"probable_social_phobia": at_cutoff}
    assert result.band is None


def test_hama_psychic_and_somatic_subscales():
    # Psychic items 1-6 and 14 at 2, somatic items 7-13 at 1.
    answers = [2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 2]
    result = score("hama", answers_from_list("hama", answers))
    assert result.total == 21
    assert result.band.id == "moderate"
    assert result.subscales == {"psychic": 14, "somatic": 7}


# --- PHQ-9 item 9 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item9", "flagged"), [(0, False), (1, True), (2, True), (3, True), (None, False)]
)
def test_phq9_item_9_above_not_at_all_raises_an_urgent_suicide_risk_flag(item9, flagged):
    result = score("phq9", answers_from_list("phq9", [0] * 8 + [item9]))
    assert [(f.code, f.urgent) for f in result.flags] == (
        [("suicide_risk", True)] if flagged else []
    )
    assert result.urgent is flagged


def test_phq9_item_9_flag_is_raised_on_an_unfinished_form():
    result = score("phq9", answers_from_list("phq9", [None, 2, None, 0, 0, 0, 0, 0, 2]))
    assert result.total is None and not result.complete
    assert [f.code for f in result.flags] == ["suicide_risk"]


# --- PCL-5 -----------------------------------------------------------------------------------

CLUSTERS = ("cluster_b", "cluster_c", "cluster_d", "cluster_e")


def pcl5(b, c, d, e):
    assert (len(b), len(c), len(d), len(e)) == (5, 2, 7, 6)
    return answers_from_list("pcl5", [*b, *c, *d, *e])


@pytest.mark.parametrize(
    ("answers", "total", "clusters", "by_threshold", "by_rule"),
    [
        (pcl5([0] * 5, [0] * 2, [0] * 7, [0] * 6), 0, (0, 0, 0, 0), False, False),
        (pcl5([2] * 5, [2] * 2, [2] * 7, [2] * 6), 40, (10, 4, 14, 12), True, True),
        # The DSM rule met with the fewest endorsed items: 1 B, 1 C, 2 D, 2 E, rated 2.
        (pcl5([2, 0, 0, 0, 0], [0, 2], [2, 2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 2, 2]), 12,
         (2, 2, 4, 4), False, True),
        # One E item short: the others rated 1 do not count as endorsed.
        (pcl5([2, 0, 0, 0, 0], [0, 2], [2, 2, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 2]), 15,
         (2, 2, 4, 7), False, False),
        # A high total without any avoidance endorsed: the threshold says yes, the rule no.
        (pcl5([4] * 5, [1, 1], [4] * 7, [4] * 6), 74, (20, 2, 28, 24), True, False),
        # The threshold edge (33 by default).
        (pcl5([4, 4, 4, 4, 4], [4, 4], [4, 1, 0, 0, 0, 0, 0], [0] * 6), 33,
         (20, 8, 5, 0), True, False),
        (pcl5([4, 4, 4, 4, 4], [4, 4], [4, 0, 0, 0, 0, 0, 0], [0] * 6), 32,
         (20, 8, 4, 0), False, False),
    ],
)  # fmt: skip
def test_pcl5_clusters_and_provisional_diagnosis(answers, total, clusters, by_threshold, by_rule):
    result = score("pcl5", answers)
    assert result.total == total
    assert tuple(result.subscales[c] for c in CLUSTERS) == clusters
    assert result.extra["provisional_diagnosis_by_threshold"] is by_threshold
    assert result.extra["provisional_diagnosis_by_dsm_rule"] is by_rule
    assert result.band is None


def test_pcl5_threshold_follows_the_clinic_setting():
    answers = with_total(instruments.get("pcl5"), 31)
    assert score("pcl5", answers).extra["provisional_diagnosis_by_threshold"] is False
    clinic = instruments.get("pcl5", overrides={"provisional_diagnosis": {"threshold": 31}})
    result = score(clinic, answers)
    assert result.extra["provisional_diagnosis_by_threshold"] is True
    assert result.extra["provisional_diagnosis_threshold"] == 31


def test_pcl5_incomplete_gives_no_provisional_diagnosis_but_complete_clusters():
    answers = pcl5([2] * 5, [2] * 2, [2] * 7, [2] * 6)
    answers["q20"] = None
    result = score("pcl5", answers)
    assert result.total is None
    assert result.extra["provisional_diagnosis_by_threshold"] is None
    assert result.extra["provisional_diagnosis_by_dsm_rule"] is None
    assert result.subscales == {"cluster_b": 10, "cluster_c": 4, "cluster_d": 14, "cluster_e": None}


# --- LSAS ------------------------------------------------------------------------------------


def lsas(fear: list[int], avoidance: list[int]) -> dict:
    return answers_from_list(
        "lsas", [v for pair in zip(fear, avoidance, strict=True) for v in pair]
    )


@pytest.mark.parametrize(
    ("fear", "avoidance", "total", "subscales", "band", "cutoffs"),
    [
        ([0] * 24, [0] * 24, 0, (0, 0), "below_moderate", (False, False)),
        ([3] * 24, [0] * 24, 72, (72, 0), "marked", (True, True)),
        ([0] * 24, [3] * 24, 72, (0, 72), "marked", (True, True)),
        ([1] * 24, [1] * 24, 48, (24, 24), "below_moderate", (True, False)),
        ([3] * 24, [3] * 24, 144, (72, 72), "very_severe", (True, True)),
        ([2] * 15 + [0] * 9, [0] * 24, 30, (30, 0), "below_moderate", (True, False)),
        ([2] * 14 + [1] + [0] * 9, [0] * 24, 29, (29, 0), "below_moderate", (False, False)),
    ],
)
def test_lsas_fear_and_avoidance(fear, avoidance, total, subscales, band, cutoffs):
    result = score("lsas", lsas(fear, avoidance))
    assert result.total == total
    assert (result.subscales["fear"], result.subscales["avoidance"]) == subscales
    assert result.band.id == band and result.band.convention
    assert tuple(result.extra["cutoffs"].values()) == cutoffs


def test_lsas_answers_in_a_list_go_situation_by_situation():
    answers = lsas([3] + [0] * 23, [0] * 23 + [2])
    assert answers["q1_fear"] == 3 and answers["q1_avoidance"] == 0
    assert answers["q24_avoidance"] == 2 and answers["q24_fear"] == 0


# --- PDSS with and without agoraphobia -------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "agoraphobia", "band"),
    [
        (2, False, "borderline"), (2, True, "normal"),
        (14, False, "markedly_ill"), (14, True, "moderately_ill"),
        (10, False, "moderately_ill"), (10, True, "slightly_ill"),
    ],
)  # fmt: skip
def test_pdss_bands_depend_on_agoraphobia(total, agoraphobia, band):
    result = score(
        "pdss", with_total(instruments.get("pdss"), total), context={"agoraphobia": agoraphobia}
    )
    assert result.band.id == band
    assert result.extra["band_set"] == (
        "furukawa_2009_with_agoraphobia" if agoraphobia else "furukawa_2009_without_agoraphobia"
    )


@pytest.mark.parametrize(("answers", "mean"), [([2] * 7, 2.0), ([1, 2, 3, 1, 2, 3, 1], 1.86)])
def test_pdss_reports_the_mean_item_score_too(answers, mean):
    result = score("pdss", answers_from_list("pdss", answers), context={"agoraphobia": False})
    assert result.extra["mean_item_score"] == mean


def test_pdss_refuses_to_guess_agoraphobia():
    with pytest.raises(InvalidInput) as caught:
        score("pdss", with_total(instruments.get("pdss"), 10))
    assert caught.value.field == "agoraphobia"


# --- DAST-10 reverse scoring -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "total", "band", "item3_points"),
    [
        ([False] * 10, 1, "low", 1),  # "no" to item 3 scores 1
        ([False, False, True] + [False] * 7, 0, "none", 0),
        ([True] * 10, 9, "severe", 0),
        ([True, True, False] + [True] * 7, 10, "severe", 1),
        ([True, True, True, False, False, False, False, False, False, False], 2, "low", 0),
        ([True] * 3 + [True] * 3 + [False] * 4, 5, "moderate", 0),
    ],
)
def test_dast10_item_3_is_reverse_scored(answers, total, band, item3_points):
    result = score("dast10", answers_from_list("dast10", answers))
    assert result.total == total
    assert result.band.id == band
    assert result.item_scores["q3"] == item3_points


def test_dast10_accepts_1_and_0_for_yes_and_no():
    as_bools = score("dast10", answers_from_list("dast10", [True, False] * 5))
    as_ints = score("dast10", answers_from_list("dast10", [1, 0] * 5))
    assert as_bools == as_ints


# --- Every band edge -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "total", "band", "context"),
    [
        *[("gad7", t, b, None) for t, b in [
            (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
            (14, "moderate"), (15, "severe"), (21, "severe")]],
        *[("phq9", t, b, None) for t, b in [
            (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
            (14, "moderate"), (15, "moderately_severe"), (19, "moderately_severe"),
            (20, "severe"), (27, "severe")]],
        *[("hama", t, b, None) for t, b in [
            (0, "minimal"), (7, "minimal"), (8, "mild"), (14, "mild"), (15, "moderate"),
            (23, "moderate"), (24, "severe"), (56, "severe")]],
        *[("dast10", t, b, None) for t, b in [
            (0, "none"), (1, "low"), (2, "low"), (3, "moderate"), (5, "moderate"),
            (6, "substantial"), (8, "substantial"), (9, "severe"), (10, "severe")]],
        *[("lsas", t, b, None) for t, b in [
            (0, "below_moderate"), (54, "below_moderate"), (55, "moderate"), (64, "moderate"),
            (65, "marked"), (79, "marked"), (80, "severe"), (94, "severe"),
            (95, "very_severe"), (144, "very_severe")]],
        *[("pdss", t, b, {"agoraphobia": False}) for t, b in [
            (0, "normal"), (1, "normal"), (2, "borderline"), (5, "borderline"),
            (6, "slightly_ill"), (9, "slightly_ill"), (10, "moderately_ill"),
            (13, "moderately_ill"), (14, "markedly_ill"), (28, "markedly_ill")]],
        *[("pdss", t, b, {"agoraphobia": True}) for t, b in [
            (0, "normal"), (2, "normal"), (3, "borderline"), (7, "borderline"),
            (8, "slightly_ill"), (10, "slightly_ill"), (11, "moderately_ill"),
            (15, "moderately_ill"), (16, "markedly_ill"), (28, "markedly_ill")]],
    ],
)  # fmt: skip
def test_band_edges(instrument_id, total, band, context):
    inst = instruments.get(instrument_id)
    result = score(inst, with_total(inst, total), context=context)
    assert result.total == total
    assert result.band.id == band


# --- Published scoring vectors ---------------------------------------------------------------


def from_loinc(instrument_id: str, coded: dict[str, str]) -> dict:
    """Answers as a FHIR QuestionnaireResponse carries them: LOINC item -> LOINC answer."""
    inst = instruments.get(instrument_id)
    answers = {}
    for item in inst.items:
        code = coded[item.loinc]
        (option,) = [o for o in item.options if o.loinc == code]
        answers[item.id] = option.value
    return answers


NOT_AT_ALL, SEVERAL_DAYS, NEARLY_EVERY_DAY = "LA6568-5", "LA6569-3", "LA6571-9"


def test_hl7_phr_gad7_example_scores_3_minimal():
    # HL7 personal-health-record-format-ig, QuestionnaireResponse ScoredAssessment GAD7;
    # its Observation stores 3, "Minimal".
    answers = from_loinc("gad7", {
        "69725-0": NOT_AT_ALL, "68509-9": NOT_AT_ALL, "69733-4": SEVERAL_DAYS,
        "69734-2": SEVERAL_DAYS, "69735-9": NOT_AT_ALL, "69689-8": SEVERAL_DAYS,
        "69736-7": NOT_AT_ALL,
    })  # fmt: skip
    assert list(answers.values()) == [0, 0, 1, 1, 0, 1, 0]
    result = score("gad7", answers)
    assert (result.total, result.band.id) == (3, "minimal")


def test_hl7_phr_phq9_example_scores_3_minimal():
    answers = from_loinc("phq9", {
        "44250-9": NOT_AT_ALL, "44255-8": NOT_AT_ALL, "44259-0": SEVERAL_DAYS,
        "44254-1": SEVERAL_DAYS, "44251-7": SEVERAL_DAYS, "44258-2": NOT_AT_ALL,
        "44252-5": NOT_AT_ALL, "44253-3": NOT_AT_ALL, "44260-8": NOT_AT_ALL,
    })  # fmt: skip
    assert list(answers.values()) == [0, 0, 1, 1, 1, 0, 0, 0, 0]
    result = score("phq9", answers)
    assert (result.total, result.band.id, result.flags) == (3, "minimal", ())


def test_mii_phq9_example_with_every_item_at_3_scores_27():
    # Medizininformatik-Initiative PROMs module: every item answered LA6571-9.
    inst = instruments.get("phq9")
    answers = from_loinc("phq9", {item.loinc: NEARLY_EVERY_DAY for item in inst.items})
    result = score(inst, answers)
    assert (result.total, result.band.id) == (27, "severe")
    assert [f.code for f in result.flags] == ["suicide_risk"]


def test_sdc_phq9_example_is_recomputed_not_trusted():
    # A published SDC example stores a total of 13; its items add to 10.
    result = score("phq9", answers_from_list("phq9", [0, 0, 0, 1, 2, 1, 3, 2, 1]))
    assert result.total == 10
    assert result.total != 13
    assert result.band.id == "moderate"
    assert [f.code for f in result.flags] == ["suicide_risk"]  # item 9 answered 1


# --- Missing items ---------------------------------------------------------------------------

SUMMED = ["gad7", "phq9", "pcl5", "hama", "auditc", "pdss", "spin", "lsas", "cadss", "dast10"]


def context_for(inst):
    return {flag.id: False for flag in inst.context}


@pytest.mark.parametrize("instrument_id", SUMMED)
@pytest.mark.parametrize("which", ["first", "last"])
def test_a_missing_item_means_no_total(instrument_id, which):
    inst = instruments.get(instrument_id)
    answers = lowest(inst)
    gone = inst.items[0 if which == "first" else -1].id
    answers[gone] = None
    result = score(inst, answers, context=context_for(inst))
    assert result.total is None
    assert result.band is None
    assert result.missing == (gone,)
    assert not result.complete
    assert result.item_scores[gone] is None
    for subscale in inst.subscales:
        assert (result.subscales[subscale.id] is None) is (gone in subscale.items)
    assert all(value is None for value in result.extra.get("cutoffs", {}).values())
    assert result.extra.get("mean_item_score") is None


@pytest.mark.parametrize("instrument_id", SUMMED)
def test_an_item_left_out_of_the_mapping_is_missing_too(instrument_id):
    inst = instruments.get(instrument_id)
    answers = lowest(inst)
    del answers[inst.items[1].id]
    result = score(inst, answers, context=context_for(inst))
    assert result.total is None and result.missing == (inst.items[1].id,)


@pytest.mark.parametrize("instrument_id", SUMMED)
def test_no_answers_at_all(instrument_id):
    inst = instruments.get(instrument_id)
    result = score(inst, {}, context=context_for(inst))
    assert result.total is None
    assert result.missing == inst.item_ids


# --- C-SSRS screener triage ------------------------------------------------------------------

Y, N, _ = True, False, None


@pytest.mark.parametrize(
    ("answers", "level", "complete", "final"),
    [
        # q1 q2 q3 q4 q5 q6 q6-past-3-months
        ((N, N, _, _, _, N, _), "none", True, True),
        ((Y, N, _, _, _, N, _), "low", True, True),
        ((N, Y, N, N, N, N, _), "low", True, True),
        ((Y, Y, N, N, N, N, _), "low", True, True),
        ((N, Y, Y, N, N, N, _), "moderate", True, True),
        ((N, N, _, _, _, Y, N), "moderate", True, True),  # lifetime behaviour only
        ((N, Y, N, Y, N, N, _), "high", True, True),
        ((N, Y, N, N, Y, N, _), "high", True, True),
        ((N, N, _, _, _, Y, Y), "high", True, True),  # behaviour in the past 3 months
        ((Y, Y, Y, Y, Y, Y, Y), "high", True, True),
        ((N, Y, Y, N, N, Y, N), "moderate", True, True),
        # Unfinished: a level from the yes answers given is the least it can be.
        ((Y, _, _, _, _, N, _), "low", False, False),
        ((N, Y, Y, _, N, N, _), "moderate", False, False),
        ((N, N, _, _, _, Y, _), "moderate", False, False),
        ((N, Y, N, Y, _, N, _), "high", False, True),  # nothing missing can lower "high"
        # Item 2 unanswered, yet item 4 answered yes: used, not discarded.
        ((N, _, _, Y, _, N, _), "high", False, True),
        ((_, N, _, _, _, N, _), None, False, False),
        ((N, _, _, _, _, _, _), None, False, False),
    ],
)
def test_cssrs_triage(answers, level, complete, final):
    result = score("cssrs_screener", answers_from_list("cssrs_screener", list(answers)))
    assert result.extra["risk_level"] == level
    assert result.complete is complete
    assert result.extra["risk_level_final"] is final
    assert result.total is None and result.band is None
    flagged = any(answer is True for answer in answers)
    if flagged:
        (flag,) = result.flags
        assert (flag.code, flag.urgent, flag.level) == ("suicide_risk", True, level)
    else:
        assert result.flags == ()


def test_cssrs_items_skipped_by_skip_logic_are_not_missing():
    result = score("cssrs_screener", answers_from_list("cssrs_screener", [N, N, _, _, _, N, _]))
    assert result.missing == ()
    result = score("cssrs_screener", answers_from_list("cssrs_screener", [N, Y, _, _, _, N, _]))
    assert result.missing == ("q3", "q4", "q5")
    result = score("cssrs_screener", answers_from_list("cssrs_screener", [N, N, _, _, _, Y, _]))
    assert result.missing == ("q6_past_3_months",)


@pytest.mark.parametrize(
    ("answers", "field", "needs"),
    [
        ((N, N, Y, _, _, N, _), "q3", "q2 is yes"),
        ((N, N, _, _, N, N, _), "q5", "q2 is yes"),
        ((N, N, _, _, _, N, Y), "q6_past_3_months", "q6 is yes"),
    ],
)
def test_cssrs_answers_to_questions_not_asked_are_refused(answers, field, needs):
    # A yes where skip logic says nothing was asked is a transcription error; guessing
    # either way could hide a high risk.
    with pytest.raises(InvalidInput) as caught:
        score("cssrs_screener", answers_from_list("cssrs_screener", list(answers)))
    assert caught.value.field == field
    assert needs in caught.value.message


def test_asked_items_follow_skip_logic():
    assert instruments.asked_items("cssrs_screener", {"q2": False, "q6": True}) == (
        "q1", "q2", "q6", "q6_past_3_months"
    )  # fmt: skip
    assert instruments.asked_items("cssrs_screener", {"q2": True}) == (
        "q1", "q2", "q3", "q4", "q5", "q6"
    )  # fmt: skip


# --- Errors name the item and the rule, never the value --------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "item", "value", "message"),
    [
        ("gad7", "q3", 9, "must be a whole number from 0 to 3"),
        ("gad7", "q3", -1, "must be a whole number from 0 to 3"),
        ("gad7", "q3", True, "must be a whole number from 0 to 3"),
        ("gad7", "q3", 1.0, "must be a whole number from 0 to 3"),
        ("gad7", "q3", "2", "must be a whole number from 0 to 3"),
        ("pcl5", "q20", 5, "must be a whole number from 0 to 4"),
        ("lsas", "q7_avoidance", 4, "must be a whole number from 0 to 3"),
        ("dast10", "q4", 2, "must be yes or no"),
        ("dast10", "q4", "sometimes", "must be yes or no"),
        ("cssrs_screener", "q1", 7, "must be yes or no"),
    ],
)
def test_out_of_range_answers_are_refused(instrument_id, item, value, message):
    inst = instruments.get(instrument_id)
    answers = lowest(inst) | {item: value}
    with pytest.raises(InvalidInput) as caught:
        score(inst, answers, context=context_for(inst))
    assert (caught.value.field, caught.value.message) == (item, message)
    assert str(value) not in caught.value.message


def test_an_unknown_item_is_refused():
    with pytest.raises(InvalidInput) as caught:
        score("gad7", lowest(instruments.get("gad7")) | {"q8": 0})
    assert caught.value.field == "q8"
    assert "not an item of the GAD-7" in caught.value.message


def test_validate_answers_reports_every_problem_at_once():
    errors = instruments.validate_answers("gad7", {"q1": 4, "q2": 0, "q5": -2, "q9": 1})
    assert sorted(error.field for error in errors) == ["q1", "q5", "q9"]


@pytest.mark.parametrize("count", [6, 8, 0])
def test_a_wrong_number_of_answers_is_refused(count):
    with pytest.raises(InvalidInput) as caught:
        answers_from_list("gad7", [0] * count)
    assert caught.value.field == "answers"
    assert caught.value.message.startswith("must be 7 answers, one per item in order (q1 to q7)")


@pytest.mark.parametrize(
    ("context", "field"),
    [({"agoraphobia": "yes"}, "agoraphobia"), ({"panic": True}, "panic")],
)
def test_context_is_checked(context, field):
    with pytest.raises(InvalidInput) as caught:
        score("pdss", with_total(instruments.get("pdss"), 3), context=context)
    assert caught.value.field == field


def test_context_for_an_instrument_without_any_is_refused():
    with pytest.raises(InvalidInput) as caught:
        score("gad7", lowest(instruments.get("gad7")), context={"agoraphobia": True})
    assert caught.value.field == "agoraphobia"


# --- Answers typed as text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "words", "expected"),
    [
        ("gad7", ["0", "0", "1", "1", "0", "1", "0"], [0, 0, 1, 1, 0, 1, 0]),
        ("gad7", ["3", "-", "1", "1", "0", "1", "0"], [3, None, 1, 1, 0, 1, 0]),
        ("cssrs_screener", ["y", "N", "-", "-", "-", "Yes", "no"], [Y, N, _, _, _, Y, N]),
        ("dast10", ["1", "0", "yes", "no", "y", "n", "1", "0", "1", "0"],
         [Y, N, Y, N, Y, N, Y, N, Y, N]),
    ],
)  # fmt: skip
def test_answers_from_text(instrument_id, words, expected):
    answers = instruments.answers_from_text(instrument_id, words)
    assert list(answers.values()) == expected


@pytest.mark.parametrize(
    ("instrument_id", "word", "message"),
    [
        ("gad7", "x", "must be a whole number from 0 to 3"),
        ("gad7", "1.5", "must be a whole number from 0 to 3"),
        ("gad7", "-1", "must be a whole number from 0 to 3"),
        ("dast10", "maybe", "must be yes or no (y, n, yes, no, 1 or 0), or -"),
        ("dast10", "2", "must be yes or no (y, n, yes, no, 1 or 0), or -"),
    ],
)
def test_text_that_is_not_an_answer_is_refused(instrument_id, word, message):
    item = instruments.get(instrument_id).items[0]
    with pytest.raises(InvalidInput) as caught:
        instruments.parse_answer(item, word)
    assert (caught.value.field, caught.value.message) == (item.id, message)


def test_score_as_dict_is_plain_json():
    import json

    result = score("pdss", answers_from_list("pdss", [2] * 7), context={"agoraphobia": True})
    data = json.loads(json.dumps(result.as_dict()))
    assert data["total"] == 14
    assert data["band"] == {
        "id": "moderately_ill", "label": "Moderately ill", "min": 11, "max": 15,
        "convention": False,
    }  # fmt: skip
    assert data["extra"]["mean_item_score"] == 2.0
