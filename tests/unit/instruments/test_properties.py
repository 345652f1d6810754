"""Properties that hold for every instrument, whatever the answers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.clinical import instruments
from kapstone.clinical.instruments import Scoring, score

from .helpers import asked, complete_answers, contexts, to_words

# Modest: eleven instruments times several properties must stay quick.
FEW = settings(max_examples=30, deadline=None)
ALL = instruments.ids()
SUMMED = [i for i in ALL if instruments.get(i).scoring is Scoring.SUM]
BANDED = [i for i in SUMMED if instruments.get(i).band_sets]


def risk_rank(inst, result) -> int:
    """0 for the lowest risk level, higher for higher ones."""
    ids = [level.id for level in inst.risk_levels]
    return len(ids) - 1 - ids.index(result.extra["risk_level"])


@pytest.mark.parametrize("instrument_id", ALL)
@FEW
@given(data=st.data())
def test_complete_answers_give_a_total_within_range(instrument_id, data):
    inst = instruments.get(instrument_id)
    result = score(inst, data.draw(complete_answers(inst)), context=data.draw(contexts(inst)))
    assert result.complete and result.missing == ()
    if inst.scoring is Scoring.SUM:
        assert 0 <= result.total <= result.max_total
        assert result.total == sum(result.item_scores.values())
        for subscale in inst.subscales:
            assert result.subscales[subscale.id] == sum(
                result.item_scores[item_id] for item_id in subscale.items
            )
    else:
        assert result.total is None
        assert result.extra["risk_level"] is not None and result.extra["risk_level_final"]


@pytest.mark.parametrize("instrument_id", BANDED)
@FEW
@given(data=st.data())
def test_the_band_of_the_total_contains_the_total(instrument_id, data):
    inst = instruments.get(instrument_id)
    context = data.draw(contexts(inst))
    result = score(inst, data.draw(complete_answers(inst)), context=context)
    assert result.band.min <= result.total <= result.band.max
    assert result.band in inst.band_set_for(context).bands


@pytest.mark.parametrize("instrument_id", ALL)
@FEW
@given(data=st.data())
def test_raising_one_item_never_lowers_the_result(instrument_id, data):
    inst = instruments.get(instrument_id)
    context = data.draw(contexts(inst))
    answers = data.draw(complete_answers(inst))
    item = data.draw(st.sampled_from([i for i in inst.items if asked(i, answers)]))
    # Answers are listed from the fewest points to the most, so a later position is higher.
    position = st.integers(0, len(item.answers) - 1)
    low, high = sorted((data.draw(position), data.draw(position)))
    before = _with(inst, answers, item.id, item.answers[low])
    after = _with(inst, answers, item.id, item.answers[high])
    lower, higher = score(inst, before, context=context), score(inst, after, context=context)
    assert higher.item_scores[item.id] >= lower.item_scores[item.id]
    if inst.scoring is Scoring.SUM:
        assert higher.total >= lower.total
        for subscale in inst.subscales:
            assert higher.subscales[subscale.id] >= lower.subscales[subscale.id]
        if inst.band_sets:
            bands = inst.band_set_for(context).bands
            assert bands.index(higher.band) >= bands.index(lower.band)
    else:
        assert risk_rank(inst, higher) >= risk_rank(inst, lower)
    assert {f.code for f in lower.flags} <= {f.code for f in higher.flags}


def _with(inst, answers: dict, item_id: str, value) -> dict:
    """Change one answer and follow skip logic: newly asked items at their fewest points,
    items no longer asked left blank."""
    changed = dict(answers) | {item_id: value}
    for item in inst.items:
        if not asked(item, changed):
            changed[item.id] = None
        elif changed[item.id] is None:
            changed[item.id] = item.answers[0]
    return changed


@pytest.mark.parametrize("instrument_id", ALL)
@FEW
@given(data=st.data())
def test_a_missing_item_means_no_total(instrument_id, data):
    inst = instruments.get(instrument_id)
    answers = data.draw(complete_answers(inst))
    gone = data.draw(st.sampled_from([i.id for i in inst.items if asked(i, answers)]))
    answers[gone] = None
    result = score(inst, answers, context=data.draw(contexts(inst)))
    assert result.total is None and result.band is None
    assert not result.complete
    assert gone in result.missing


@pytest.mark.parametrize("instrument_id", ALL)
@FEW
@given(data=st.data())
def test_typed_answers_score_the_same(instrument_id, data):
    inst = instruments.get(instrument_id)
    answers = data.draw(complete_answers(inst))
    context = data.draw(contexts(inst))
    typed = instruments.answers_from_text(inst, to_words(inst, answers))
    assert score(inst, typed, context=context) == score(inst, answers, context=context)


@FEW
@given(st.integers(0, 21), st.lists(st.one_of(st.none(), st.integers(0, 21)), max_size=8))
def test_relapse_only_after_a_response(baseline, later):
    course = instruments.course("gad7", baseline, later)
    responded = False
    for follow_up in course.follow_ups:
        if follow_up.relapse:
            assert responded
            assert not follow_up.response
        responded = responded or bool(follow_up.response)
