"""Change from baseline: meaningful change, response, remission and relapse."""

import pytest

from kapstone.clinical import instruments
from kapstone.clinical.instruments import compare, course, outcome_rules, score
from kapstone.errors import InvalidInput

from .helpers import with_total


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "later", "improved", "worsened"),
    [
        # GAD-7 MCID 4 (Toussaint 2020)
        ("gad7", 15, 11, True, False),
        ("gad7", 15, 12, False, False),
        ("gad7", 10, 14, False, True),
        ("gad7", 10, 13, False, False),
        # PHQ-9 MCID 5 (Löwe 2004)
        ("phq9", 20, 15, True, False),
        ("phq9", 20, 16, False, False),
        ("phq9", 5, 10, False, True),
        # PCL-5 MCID 10 (lower end of 10-20)
        ("pcl5", 50, 40, True, False),
        ("pcl5", 50, 41, False, False),
        ("pcl5", 30, 40, False, True),
        # HAM-A and LSAS: no MCID in the reference
        ("hama", 30, 10, None, None),
        ("lsas", 90, 40, None, None),
    ],
)
def test_meaningful_change(instrument_id, baseline, later, improved, worsened):
    follow_up = compare(instrument_id, baseline, later)
    assert follow_up.change == later - baseline
    assert follow_up.meaningful_improvement is improved
    assert follow_up.meaningful_worsening is worsened


@pytest.mark.parametrize(
    ("baseline", "later", "reliable"), [(50, 45, True), (50, 46, False), (50, 60, False)]
)
def test_pcl5_reliable_change(baseline, later, reliable):
    assert compare("pcl5", baseline, later).reliable_improvement is reliable


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "later", "response"),
    [
        # At least 50%: exact halves count, and a fall of 7 from 15 is not 7.5.
        ("gad7", 16, 8, True),
        ("gad7", 16, 9, False),
        ("gad7", 15, 7, True),
        ("gad7", 15, 8, False),
        ("phq9", 20, 10, True),
        ("phq9", 20, 11, False),
        ("hama", 30, 15, True),
        ("hama", 30, 16, False),
        ("pcl5", 40, 20, True),
        ("pcl5", 40, 21, False),
        # LSAS: more than 35% (Taylor 2018), so exactly 35% is not a response.
        ("lsas", 100, 65, False),
        ("lsas", 100, 64, True),
        ("lsas", 80, 52, False),
        ("lsas", 80, 51, True),
        # No response can be measured from a baseline of 0.
        ("gad7", 0, 0, None),
    ],
)
def test_response(instrument_id, baseline, later, response):
    assert compare(instrument_id, baseline, later).response is response


@pytest.mark.parametrize(
    ("instrument_id", "later", "remission"),
    [
        ("gad7", 4, True),
        ("gad7", 5, False),
        ("gad7", 0, True),
        ("phq9", 4, True),
        ("phq9", 5, False),
        ("pcl5", 0, None),  # no remission rule in the reference
        ("hama", 0, None),
    ],
)
def test_remission(instrument_id, later, remission):
    assert compare(instrument_id, 20, later).remission is remission


def test_percent_change():
    assert compare("gad7", 16, 8).percent_change == -50.0
    assert compare("gad7", 12, 15).percent_change == 25.0
    assert compare("gad7", 0, 3).percent_change is None


@pytest.mark.parametrize(
    ("later", "relapses"),
    [
        # GAD-7 from 16: response at 8 or below; relapse needs a rise of 4 from the lowest.
        ([8, 12], [False, True]),
        ([8, 11], [False, False]),  # rose 3: under the MCID
        ([12, 16], [False, False]),  # never responded
        ([8, 6, 10], [False, False, True]),  # 4 above the lowest (6), no longer a response
        ([8, 6, 8], [False, False, False]),  # 8 still meets the response rule
        ([8, 9], [False, False]),
        ([8, 12, 13], [False, True, False]),  # a new response is needed before another relapse
        ([8, 12, 7, 11], [False, True, False, True]),
        ([8, None, 12], [False, None, True]),  # an incomplete score keeps its place
        ([], []),
    ],
)
def test_relapse_after_response(later, relapses):
    result = course("gad7", 16, later)
    assert [f.relapse for f in result.follow_ups] == relapses
    assert result.relapsed is any(r for r in relapses if r)


def test_course_summary():
    result = course("gad7", 16, [12, 8, None])
    assert result.baseline == 16
    assert result.latest.total == 8
    assert result.ever_responded
    assert not result.relapsed
    assert course("gad7", 16, [None]).latest is None


def test_relapse_is_not_judged_without_a_relapse_rule():
    assert [f.relapse for f in course("hama", 30, [10, 25]).follow_ups] == [None, None]


# --- Clinic overrides ------------------------------------------------------------------------


def test_a_clinic_may_change_the_response_reduction():
    assert compare("gad7", 10, 6).response is False
    assert compare("gad7", 10, 6, overrides={"response_reduction_percent": 40}).response is True


def test_a_clinic_may_change_the_relapse_rise():
    assert course("gad7", 16, [8, 12]).follow_ups[1].relapse is True
    assert course("gad7", 16, [8, 12], overrides={"relapse_rise": 6}).follow_ups[1].relapse is False


def test_a_clinic_may_change_the_mcid():
    assert compare("gad7", 15, 12, overrides={"mcid": 3}).meaningful_improvement is True


def test_an_unknown_outcome_setting_is_refused():
    with pytest.raises(KeyError):
        outcome_rules("gad7", {"responce_reduction_percent": 40})


def test_outcome_rules_say_which_are_unconfirmed():
    gad7 = outcome_rules("gad7")
    assert (gad7.mcid, gad7.response_reduction_percent, gad7.remission_below) == (4, 50, 5)
    assert not gad7.is_unconfirmed("mcid")
    assert gad7.is_unconfirmed("response")
    assert gad7.is_unconfirmed("remission")
    assert gad7.is_unconfirmed("relapse")
    phq9 = outcome_rules("phq9")
    assert phq9.is_unconfirmed("remission") and not phq9.is_unconfirmed("mcid")
    assert outcome_rules("pcl5").mcid == 10


def test_instruments_without_outcome_rules():
    for instrument_id in ("cadss", "cssrs_screener", "dast10", "auditc", "pdss", "spin"):
        with pytest.raises(InvalidInput):
            outcome_rules(instrument_id)


# --- Scores as input -------------------------------------------------------------------------


def test_scores_can_be_passed_directly():
    gad7 = instruments.get("gad7")
    baseline = score(gad7, with_total(gad7, 16))
    later = score(gad7, with_total(gad7, 8))
    incomplete = score(gad7, {"q1": 1})
    result = course(gad7, baseline, [later, incomplete])
    assert [f.total for f in result.follow_ups] == [8, None]
    assert result.follow_ups[0].response


def test_an_incomplete_baseline_is_refused():
    with pytest.raises(InvalidInput) as caught:
        course("gad7", score("gad7", {"q1": 1}), [3])
    assert caught.value.field == "baseline"


def test_a_score_of_another_instrument_is_refused():
    phq9 = instruments.get("phq9")
    with pytest.raises(InvalidInput) as caught:
        course("gad7", 12, [score(phq9, with_total(phq9, 3))])
    assert caught.value.field == "later[0]"
