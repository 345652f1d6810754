"""The trend picture: bands, scores, baseline and dosing sessions in the SVG, a real PNG, the
same bytes every time (and from several threads at once), and the picture in words."""

import struct
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapstone.assessments import trends
from kapstone.assessments.episodes import Point
from kapstone.clinical import instruments

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def week(n: float) -> datetime:
    return T0 + timedelta(weeks=n)


def series(*totals, baseline_at: int | None = 0) -> list[Point]:
    """Totals a week apart; the one at ``baseline_at`` is marked baseline."""
    return [
        Point(at=week(i), total=total, timepoint="baseline" if i == baseline_at else "weekly")
        for i, total in enumerate(totals)
    ]


COURSE = series(16, 14, 12, 9, 8, 7)
DOSING = [week(0.5), week(1.5), week(2.5)]


def parse(document: bytes) -> ET.Element:
    return ET.fromstring(document)


def by_id(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("id", "").startswith(prefix)]


def marker_positions(root: ET.Element, group_id: str) -> list[tuple[str, str]]:
    (group,) = by_id(root, group_id)
    return [(use.get("x"), use.get("y")) for use in group.iter(f"{SVG_NS}use")]


def text_of(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


@pytest.mark.parametrize(
    ("instrument", "totals"),
    [("gad7", (16, 9, 4)), ("phq9", (22, 14, 8)), ("pcl5", (52, 40, 30)), ("dast10", (6, 3))],
)
def test_svg_shades_and_names_every_band(instrument, totals):
    # Arrange
    inst = instruments.get(instrument)
    bands = inst.band_sets[0].bands if inst.band_sets else ()

    # Act
    root = parse(trends.svg(inst, series(*totals)))

    # Assert
    regions = by_id(root, f"{instrument}-band-")
    labels = by_id(root, f"{instrument}-bandlabel-")
    assert [el.get("id") for el in regions] == [f"{instrument}-band-{b.id}" for b in bands]
    assert [text_of(el) for el in labels] == [b.label for b in bands]


@pytest.mark.parametrize(
    ("dosing", "drawn"),
    [
        ([], 0),
        ([week(0.5)], 1),
        (DOSING, 3),
        # A course long before the first score is left off; one after the last score is not.
        ([week(-30), week(0.5), week(7)], 2),
    ],
    ids=["none", "one", "three", "old-course-left-off"],
)
def test_svg_draws_a_marker_per_dosing_session(dosing, drawn):
    # Act
    root = parse(trends.svg("gad7", COURSE, dosing))

    # Assert
    assert [el.get("id") for el in by_id(root, "gad7-dosing-")] == [
        f"gad7-dosing-{n}" for n in range(1, drawn + 1)
    ]


@pytest.mark.parametrize(
    ("points", "drawn"),
    [
        (series(16), 1),
        (COURSE, 6),
        # An unfinished form has no total to draw.
        ([*series(16, 12), Point(week(2), None)], 2),
    ],
    ids=["one", "six", "incomplete-left-out"],
)
def test_svg_draws_a_point_per_score(points, drawn):
    # Act
    root = parse(trends.svg("gad7", points))

    # Assert
    assert len(marker_positions(root, "gad7-scores")) == drawn


@pytest.mark.parametrize(
    ("points", "baseline_index"),
    [
        (COURSE, 0),
        (series(10, 14, 18, 9, baseline_at=2), 2),  # a new episode starts at the third
        (series(None, 15, 9, baseline_at=None), 0),  # the first complete score (drawn first)
    ],
    ids=["marked-first", "marked-later", "first-complete"],
)
def test_svg_marks_the_baseline_on_its_score(points, baseline_index):
    # Act
    root = parse(trends.svg("gad7", points))

    # Assert
    scores = marker_positions(root, "gad7-scores")
    assert marker_positions(root, "gad7-baseline") == [scores[baseline_index]]


def test_figure_axis_runs_from_zero_to_the_highest_total_under_the_short_name():
    # Act
    fig = trends.figure("phq9", series(20, 10), DOSING, tz=NEW_YORK)

    # Assert
    (ax,) = fig.axes
    assert ax.get_ylim() == (0, 27)
    assert ax.get_title(loc="left") == "PHQ-9"
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    assert any(ticks), "dates on the x axis"


def test_svg_is_labelled_by_its_description():
    # Act
    document = trends.svg("gad7", COURSE, DOSING, tz=NEW_YORK)

    # Assert
    root = parse(document)
    assert root.get("role") == "img"
    (title,) = by_id(root, root.get("aria-labelledby"))
    assert title.text == trends.describe("gad7", COURSE, DOSING, tz=NEW_YORK)


def test_svg_ids_all_carry_the_instrument_so_pictures_can_share_a_page():
    # Act
    root = parse(trends.svg("gad7", COURSE, DOSING))

    # Assert
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert ids and all(i.startswith("gad7-") for i in ids)
    assert len(ids) == len(set(ids))


def test_inline_drops_the_xml_prologue():
    # Arrange
    document = trends.svg("gad7", COURSE)

    # Act
    html = trends.inline(document)

    # Assert
    assert document.startswith(b"<?xml")
    assert html.startswith("<svg ")
    assert "<!DOCTYPE" not in html


def test_png_is_a_png_of_the_expected_size():
    # Act
    picture = trends.png("gad7", COURSE, DOSING)

    # Assert
    assert picture.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", picture[16:24])  # from the IHDR chunk
    assert (width, height) == (
        trends.WIDTH_IN * trends.PNG_DPI,
        trends.HEIGHT_IN * trends.PNG_DPI,
    )


@pytest.mark.parametrize("draw", [trends.svg, trends.png], ids=["svg", "png"])
def test_same_scores_same_bytes(draw):
    # Act
    first = draw("gad7", COURSE, DOSING, tz=NEW_YORK)
    second = draw("gad7", COURSE, DOSING, tz=NEW_YORK)
    other = draw("gad7", series(16, 14, 12, 9, 8, 8), DOSING, tz=NEW_YORK)

    # Assert
    assert first == second
    assert other != first


@pytest.mark.parametrize("draw", [trends.svg, trends.png], ids=["svg", "png"])
def test_threads_drawing_at_once_get_the_same_bytes(draw):
    # Arrange
    jobs = [("gad7", COURSE), ("phq9", series(20, 12, 6))] * 2

    # Act
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: draw(job[0], job[1], DOSING), jobs))

    # Assert
    assert results == [draw(inst, points, DOSING) for inst, points in jobs]


def test_svg_has_no_date_in_it():
    # Act
    text = trends.svg("gad7", COURSE).decode()

    # Assert
    assert "<dc:date>" not in text


@pytest.mark.parametrize(
    ("instrument", "points"),
    [
        ("cssrs_screener", [Point(T0, None)]),  # a risk level, never a total
        ("gad7", [Point(T0, None), Point(week(1), None)]),  # no form finished
        ("gad7", []),
    ],
    ids=["no-total-instrument", "no-complete-score", "no-scores"],
)
def test_nothing_to_draw_is_refused(instrument, points):
    # Act / Assert
    with pytest.raises(ValueError, match="total"):
        trends.figure(instrument, points)


@pytest.mark.parametrize(
    ("instrument", "points", "dosing", "text"),
    [
        (
            "gad7",
            COURSE,
            [],
            (
                "GAD-7: 6 scores from 2026-01-05 to 2026-02-09; latest 7 (mild), "
                "down 9 from baseline 16; meaningful improvement, response"
            ),
        ),
        (
            "gad7",
            COURSE,
            DOSING,
            (
                "GAD-7: 6 scores from 2026-01-05 to 2026-02-09; latest 7 (mild), "
                "down 9 from baseline 16; meaningful improvement, response; 3 dosing sessions"
            ),
        ),
        ("gad7", series(16), [], "GAD-7: 1 score on 2026-01-05; latest 16 (severe), the baseline"),
        (
            "gad7",
            series(7, 12),
            [week(0.5)],
            (
                "GAD-7: 2 scores from 2026-01-05 to 2026-01-12; latest 12 (moderate), "
                "up 5 from baseline 7; meaningful worsening; 1 dosing session"
            ),
        ),
        (
            "gad7",
            series(9, 9),
            [],
            (
                "GAD-7: 2 scores from 2026-01-05 to 2026-01-12; latest 9 (mild), "
                "no change from baseline 9"
            ),
        ),
        (
            "gad7",
            series(16, 8, 3),
            [],
            (
                "GAD-7: 3 scores from 2026-01-05 to 2026-01-19; latest 3 (minimal), "
                "down 13 from baseline 16; meaningful improvement, response, remission"
            ),
        ),
        (
            "phq9",
            series(20, 15, 10, 4, 10, 13),
            [],
            (
                "PHQ-9: 6 scores from 2026-01-05 to 2026-02-09; latest 13 (moderate), "
                "down 7 from baseline 20; meaningful improvement, relapse"
            ),
        ),
        (
            # No bands: the total alone.
            "pcl5",
            series(50, 20),
            [],
            (
                "PCL-5: 2 scores from 2026-01-05 to 2026-01-12; latest 20, "
                "down 30 from baseline 50; meaningful improvement, response"
            ),
        ),
        (
            # The band as it was scored is the one named.
            "gad7",
            [Point(T0, 12, "baseline", band="Moderate"), Point(week(1), 6, band="Mild")],
            [],
            (
                "GAD-7: 2 scores from 2026-01-05 to 2026-01-12; latest 6 (mild), "
                "down 6 from baseline 12; meaningful improvement, response"
            ),
        ),
        (
            "gad7",
            [*series(16, 12), Point(week(2), None)],
            [],
            (
                "GAD-7: 2 scores from 2026-01-05 to 2026-01-12; latest 12 (moderate), "
                "down 4 from baseline 16; meaningful improvement; 1 incomplete form without a total"
            ),
        ),
        ("gad7", [Point(T0, None)], [], "GAD-7: no scores; 1 incomplete form without a total"),
        (
            # Plain (datetime, total) pairs will do; the first is the baseline.
            "gad7",
            [(T0, 10), (week(1), 4)],
            [],
            (
                "GAD-7: 2 scores from 2026-01-05 to 2026-01-12; latest 4 (minimal), "
                "down 6 from baseline 10; meaningful improvement, response, remission"
            ),
        ),
    ],
    ids=[
        "improving",
        "with-dosing",
        "baseline-only",
        "worse",
        "unchanged",
        "remission",
        "phq9-relapse",
        "no-bands",
        "stored-band",
        "incomplete",
        "nothing-complete",
        "plain-pairs",
    ],
)
def test_describe(instrument, points, dosing, text):
    # Act / Assert
    assert trends.describe(instrument, points, dosing, tz=NEW_YORK) == text


def test_describe_gives_dates_in_the_clinics_time_zone():
    # Arrange: 02:00 UTC on the 6th is the evening of the 5th in New York
    late = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)

    # Act
    local = trends.describe("gad7", [Point(late, 8)], tz=NEW_YORK)
    utc = trends.describe("gad7", [Point(late, 8)], tz=UTC)

    # Assert
    assert "on 2026-01-05" in local
    assert "on 2026-01-06" in utc
