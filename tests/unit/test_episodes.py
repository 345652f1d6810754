"""The episode rules: which score is the baseline, what follows it, and what each follow-up
meets (meaningful change, response, remission, relapse) on worked GAD-7 and PHQ-9 courses."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.assessments.episodes import (
    Point,
    choose_baseline,
    episode,
    outcome_words,
    rule_lines,
    signed_change,
)
from kapstone.clinical import instruments

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def week(n: int) -> datetime:
    return T0 + timedelta(weeks=n)


def series(*entries) -> list[Point]:
    """(total, timepoint) pairs a week apart, keyed by their position."""
    return [
        Point(at=week(i), total=total, timepoint=timepoint, key=i)
        for i, (total, timepoint) in enumerate(entries)
    ]


B, W = "baseline", "weekly"


@pytest.mark.parametrize(
    ("entries", "baseline_key", "marked", "earlier", "follow_ups"),
    [
        # No score marked baseline: the first complete score is.
        ([(16, W), (12, W), (8, W)], 0, False, [], [1, 2]),
        # An unfinished form first: the first complete score is the baseline.
        ([(None, W), (15, W), (9, W)], 1, False, [0], [2]),
        # A marked baseline after other scores starts a new episode.
        ([(10, W), (14, W), (18, B), (9, W)], 2, True, [0, 1], [3]),
        # Two marked baselines: the latest is this episode's.
        ([(17, B), (8, W), (15, B), (12, W), (6, W)], 2, True, [0, 1], [3, 4]),
        # A marked baseline without a total cannot be one: the earlier marked one stands.
        ([(16, B), (12, W), (None, B), (8, W)], 0, True, [], [1, 2, 3]),
        # ...and with no other marked baseline, the first complete score is.
        ([(14, W), (None, B), (7, W)], 0, False, [], [1, 2]),
        # The baseline alone.
        ([(13, B)], 0, True, [], []),
        # Nothing complete: no baseline, nothing compared.
        ([(None, W), (None, B)], None, False, [0, 1], []),
        # No scores at all.
        ([], None, False, [], []),
    ],
    ids=[
        "first-complete",
        "skip-incomplete",
        "new-episode",
        "latest-marked",
        "marked-incomplete-falls-back-to-marked",
        "marked-incomplete-falls-back-to-first",
        "baseline-only",
        "nothing-complete",
        "empty",
    ],
)
def test_baseline_and_follow_ups(entries, baseline_key, marked, earlier, follow_ups):
    # Arrange
    points = series(*entries)

    # Act
    ep = episode("gad7", points)

    # Assert
    assert (ep.baseline.key if ep.baseline else None) == baseline_key
    assert ep.baseline_marked is marked
    assert [p.key for p in ep.earlier] == earlier
    assert [p.key for p in ep.follow_ups] == follow_ups
    assert len(ep.results) == len(ep.follow_ups)
    assert [p.key for p in ep.points] == [p.key for p in points]


def test_points_are_put_in_time_order():
    # Arrange
    points = series((16, B), (12, W), (8, W))

    # Act
    ep = episode("gad7", list(reversed(points)))

    # Assert
    assert ep.baseline.key == 0
    assert [p.key for p in ep.follow_ups] == [1, 2]


# Worked GAD-7 course (MCID 4, response a fall of at least 50%, remission below 5, relapse
# 4 points above the lowest after a response), baseline 16:
#   12: down 4 (25%): meaningful, not yet a response
#    8: down 8 (50%): response (50% is enough), not remission
#    4: down 12: response and remission
#    9: down 7 (43.8%): response lost, 5 above the lowest (4): relapse
#    7: down 9 (56.3%): a response again
GAD7_COURSE = [
    # total, change, percent, meaningful, response, remission, relapse
    (12, -4, -25.0, True, False, False, False),
    (8, -8, -50.0, True, True, False, False),
    (4, -12, -75.0, True, True, True, False),
    (9, -7, -43.8, True, False, False, True),
    (7, -9, -56.2, True, True, False, False),
]
# Worked PHQ-9 course (MCID 5, response 50%, remission below 5, relapse 5 above the lowest),
# baseline 20:
#   15: down 5: meaningful, no response
#   10: down 10 (50%): response
#    4: response and remission
#   10: up 6 from the lowest, but still a 50% fall: still a response, no relapse
#   13: down 7 (35%): response lost and 9 above the lowest: relapse
PHQ9_COURSE = [
    (15, -5, -25.0, True, False, False, False),
    (10, -10, -50.0, True, True, False, False),
    (4, -16, -80.0, True, True, True, False),
    (10, -10, -50.0, True, True, False, False),
    (13, -7, -35.0, True, False, False, True),
]


@pytest.mark.parametrize(
    ("instrument", "baseline", "course", "words", "in_relapse"),
    [
        ("gad7", 16, GAD7_COURSE, ["meaningful improvement", "response"], False),
        ("phq9", 20, PHQ9_COURSE, ["meaningful improvement", "relapse"], True),
    ],
    ids=["gad7", "phq9"],
)
def test_worked_course(instrument, baseline, course, words, in_relapse):
    # Arrange
    points = series((baseline, B), *[(row[0], W) for row in course])

    # Act
    ep = episode(instrument, points)

    # Assert
    got = [
        (
            r.total,
            r.change,
            r.percent_change,
            r.meaningful_improvement,
            r.response,
            r.remission,
            r.relapse,
        )
        for r in ep.results
    ]
    assert got == course
    assert ep.course is not None and ep.course.baseline == baseline
    assert ep.in_relapse is in_relapse
    assert outcome_words(ep) == words
    assert ep.result_for(len(course)) == ep.results[-1]
    assert ep.result_for(0) is None  # the baseline is not compared with itself


def test_clinic_override_changes_the_response_rule():
    # Arrange: 16 to 9 is a fall of 43.8%
    points = series((16, B), (9, W))

    # Act
    default = episode("gad7", points)
    clinic = episode("gad7", points, overrides={"response_reduction_percent": 40})

    # Assert
    assert default.results[0].response is False
    assert clinic.results[0].response is True
    assert clinic.course.rules.response_reduction_percent == 40


def test_incomplete_follow_up_keeps_its_place_without_results():
    # Arrange
    points = series((16, B), (None, W), (7, W))

    # Act
    ep = episode("gad7", points)

    # Assert
    assert [r.total for r in ep.results] == [None, 7]
    assert ep.results[0].response is None
    assert ep.latest.total == 7


def test_instrument_without_outcome_rules_still_shows_change():
    # Arrange: the DAST-10 has bands but no outcome rules
    points = series((6, B), (3, W))

    # Act
    ep = episode("dast10", points)

    # Assert
    assert ep.course is None
    (result,) = ep.results
    assert (result.change, result.percent_change) == (-3, -50.0)
    assert (result.response, result.remission, result.relapse) == (None, None, None)
    assert outcome_words(ep) == []


def test_latest_score_the_baseline_meets_nothing():
    # Arrange
    points = series((3, B))

    # Act
    ep = episode("gad7", points)

    # Assert
    assert ep.latest is None
    assert outcome_words(ep) == []


@pytest.mark.parametrize(
    ("change", "percent", "text"),
    [
        (-9, -56.3, "\u22129 (\u221256.3%)"),
        (3, 18.8, "+3 (+18.8%)"),
        (0, 0.0, "0 (0.0%)"),
        (4, None, "+4"),
        (None, None, ""),
    ],
)
def test_signed_change(change, percent, text):
    # Arrange
    result = instruments.FollowUp(None, change, percent, None, None, None, None, None, None)

    # Act / Assert
    assert signed_change(result) == text


def test_rule_lines_say_which_rules_are_conventions():
    # Arrange
    rules = instruments.get("gad7").outcomes

    # Act
    lines = rule_lines(rules)

    # Assert
    assert lines == [
        ("meaningful change: 4 points", False),
        ("response: a fall of at least 50%", True),
        ("remission: below 5", True),
        ("relapse: after a response, 4 points above the lowest score", True),
    ]
    assert rule_lines(None) == []


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 21)),
            st.sampled_from([B, W, "pre_dose"]),
            st.integers(0, 400),
        ),
        max_size=15,
    )
)
def test_episode_partitions_the_points(entries):
    # Arrange
    points = [
        Point(at=T0 + timedelta(days=day), total=total, timepoint=timepoint, key=i)
        for i, (total, timepoint, day) in enumerate(entries)
    ]

    # Act
    ep = episode("gad7", points)
    index, _ = choose_baseline(sorted(points, key=lambda p: p.at))

    # Assert: every point once, in time order; the baseline has a total and nothing before
    # it is a marked baseline with a total later than it
    assert sorted(p.key for p in ep.points) == list(range(len(points)))
    assert [p.at for p in ep.points] == sorted(p.at for p in points)
    if ep.baseline is None:
        assert index is None
        assert all(p.total is None for p in points)
    else:
        assert ep.baseline.total is not None
        assert not any(p.timepoint == B and p.total is not None for p in ep.follow_ups)
        for point, result in zip(ep.follow_ups, ep.results, strict=True):
            expected = None if point.total is None else point.total - ep.baseline.total
            assert result.change == expected
