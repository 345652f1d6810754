"""The picture of one instrument's scores over time, and the same in words.

Severity bands are shaded and named, the scores are a line with a point for each total, the
episode's baseline is marked, and dosing sessions are dashed vertical lines. The same picture
is an SVG (inline on the scores page, and for reports) or a PNG. ``describe`` says what the
picture shows, for alt text and for anyone who does not read a chart.

Matplotlib draws through ``Figure`` objects only (no pyplot and its current figure), so
requests in different threads never share a figure. It is imported on first use: starting the
web server should not wait for it. The same scores always make the same bytes: the SVG ids
are salted with a constant and carry no date. Pure Python.
"""

import io
import re
import textwrap
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from kapstone.assessments.episodes import Point, episode, outcome_words
from kapstone.clinical import instruments

WIDTH_IN, HEIGHT_IN = 8.0, 3.6
PNG_DPI = 120
# Kapstone's ink and accent (core/static/core/kapstone.css), and a dosing colour apart from both.
INK, MUTED, ACCENT, DOSING = "#1d2733", "#5b6675", "#2f5d8a", "#8a4b9a"
# From the lowest band (fewest symptoms) to the highest: pale green, sand, pale red. The band
# names are written beside the shading, so colour is never the only cue.
BAND_COLOURS = ("#e3f1e6", "#eef3dc", "#fbf3d5", "#fbe6d5", "#f7dcdc")
LABEL_WIDTH = 20  # characters per line of a band name beside the picture
# Dosing sessions this long before an instrument's first score are left off its picture: a
# course years ago would squeeze the scores into a corner.
DOSING_LEAD = timedelta(days=28)

_setup_lock = threading.Lock()
_matplotlib: dict[str, Any] = {}

Points = Sequence[Point | tuple[datetime, int | None]]


def _mpl() -> dict[str, Any]:
    """Import matplotlib once. The two settings are read when a picture is saved and have no
    per-figure form, so they are set here, once, and never changed afterwards."""
    with _setup_lock:
        if not _matplotlib:
            import matplotlib
            from matplotlib import dates
            from matplotlib.figure import Figure
            from matplotlib.lines import Line2D
            from matplotlib.ticker import MaxNLocator
            from matplotlib.transforms import blended_transform_factory

            matplotlib.rcParams["svg.hashsalt"] = "kapstone-trends"
            # Text stays text: smaller files, and words a search or a screen reader can find.
            matplotlib.rcParams["svg.fonttype"] = "none"
            _matplotlib.update(
                Figure=Figure,
                dates=dates,
                Line2D=Line2D,
                MaxNLocator=MaxNLocator,
                blended=blended_transform_factory,
            )
        return _matplotlib


def _as_points(points: Points) -> list[Point]:
    return [p if isinstance(p, Point) else Point(at=p[0], total=p[1]) for p in points]


def _instrument(instrument: instruments.Instrument | str) -> instruments.Instrument:
    if isinstance(instrument, instruments.Instrument):
        return instrument
    return instruments.get(instrument)


def _band_set(
    inst: instruments.Instrument, band_set: instruments.BandSet | None
) -> instruments.BandSet | None:
    if band_set is not None:
        return band_set
    return inst.band_set_for({}) or (inst.band_sets[0] if inst.band_sets else None)


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None and moment.tzinfo is not None else moment


def dosing_shown(points: Sequence[Point], dosing: Sequence[datetime]) -> list[datetime]:
    """The dosing sessions a picture of these points shows, oldest first."""
    scored = [p.at for p in points if p.total is not None]
    if not scored:
        return []
    return sorted(moment for moment in dosing if moment >= min(scored) - DOSING_LEAD)


def _x_range(moments: list[datetime]) -> tuple[datetime, datetime]:
    first, last = min(moments), max(moments)
    pad = max((last - first) / 20, timedelta(days=2))
    return first - pad, last + pad


def figure(
    instrument: instruments.Instrument | str,
    points: Points,
    dosing: Sequence[datetime] = (),
    *,
    overrides: dict | None = None,
    band_set: instruments.BandSet | None = None,
    tz: tzinfo | None = None,
):
    """The matplotlib Figure. Raises ValueError for an instrument without a total, or when
    no point has one: there is nothing to draw."""
    inst = _instrument(instrument)
    if inst.max_total is None:
        raise ValueError(f"the {inst.short_name} has no total to draw")
    ep = episode(inst, _as_points(points), overrides=overrides)
    scored = [p for p in ep.points if p.total is not None]
    if not scored:
        raise ValueError(f"no {inst.short_name} score has a total")
    mpl = _mpl()
    dates = mpl["dates"]
    top = inst.max_total

    fig = mpl["Figure"](figsize=(WIDTH_IN, HEIGHT_IN))
    fig.subplots_adjust(left=0.09, right=0.8, top=0.84, bottom=0.14)
    ax = fig.add_subplot()
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(mpl["MaxNLocator"](nbins=6, integer=True))
    ax.set_ylabel("Total", color=MUTED)
    ax.set_title(inst.short_name, loc="left", fontsize=13, fontweight="bold", color=INK)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=9)

    bands = _band_set(inst, band_set)
    beside = mpl["blended"](ax.transAxes, ax.transData)
    if bands is not None:
        count = len(bands.bands)
        for index, band in enumerate(bands.bands):
            low = 0 if index == 0 else band.min - 0.5
            high = top if index == count - 1 else band.max + 0.5
            colour = BAND_COLOURS[round(index * (len(BAND_COLOURS) - 1) / max(count - 1, 1))]
            region = ax.axhspan(low, high, color=colour, zorder=0, linewidth=0)
            region.set_gid(f"band-{band.id}")
            label = ax.text(
                1.02,
                (low + high) / 2,
                textwrap.fill(band.label, LABEL_WIDTH),
                transform=beside,
                va="center",
                ha="left",
                fontsize=8,
                color=MUTED,
                clip_on=False,
            )
            label.set_gid(f"bandlabel-{band.id}")

    dosing = dosing_shown(scored, dosing)
    moments = [p.at for p in scored] + dosing
    for number, moment in enumerate(dosing, start=1):
        marker = ax.axvline(moment, color=DOSING, linestyle="--", linewidth=1, zorder=2)
        marker.set_gid(f"dosing-{number}")

    line = ax.plot(
        [p.at for p in scored],
        [p.total for p in scored],
        color=ACCENT,
        linewidth=1.8,
        marker="o",
        markersize=5,
        zorder=3,
    )[0]
    line.set_gid("scores")
    if ep.baseline is not None:
        marked = ax.plot(
            [ep.baseline.at],
            [ep.baseline.total],
            linestyle="none",
            marker="D",
            markersize=9,
            markerfacecolor="white",
            markeredgecolor=ACCENT,
            markeredgewidth=2,
            zorder=4,
        )[0]
        marked.set_gid("baseline")

    locator = dates.AutoDateLocator(tz=tz, minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=tz))
    ax.set_xlim(*_x_range(moments))

    key = [
        mpl["Line2D"]([], [], color=ACCENT, marker="o", markersize=5, label="Score"),
        mpl["Line2D"](
            [],
            [],
            linestyle="none",
            marker="D",
            markerfacecolor="white",
            markeredgecolor=ACCENT,
            markeredgewidth=2,
            label="Baseline",
        ),
    ]
    if dosing:
        key.append(mpl["Line2D"]([], [], color=DOSING, linestyle="--", label="Dosing session"))
    ax.legend(
        handles=key,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(key),
        frameon=False,
        fontsize=8,
        handlelength=1.8,
    )
    return fig


def _prefixed(svg_text: str, prefix: str) -> str:
    """Give every id in the picture a prefix, so several pictures can share one page."""
    svg_text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg_text)
    svg_text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg_text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', svg_text)


def svg(
    instrument: instruments.Instrument | str,
    points: Points,
    dosing: Sequence[datetime] = (),
    *,
    overrides: dict | None = None,
    band_set: instruments.BandSet | None = None,
    tz: tzinfo | None = None,
) -> bytes:
    """The picture as a standalone SVG document. Its ids start with the instrument's id and
    its title is the ``describe`` text, which assistive technology reads as its name."""
    inst = _instrument(instrument)
    fig = figure(inst, points, dosing, overrides=overrides, band_set=band_set, tz=tz)
    text = describe(inst, points, dosing, overrides=overrides, tz=tz)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Title": text})
    document = _prefixed(buffer.getvalue(), f"{inst.id}-")
    title_id = f"{inst.id}-title"
    document = document.replace("<title>", f'<title id="{title_id}">', 1)
    document = re.sub(r"<svg\b", f'<svg role="img" aria-labelledby="{title_id}"', document, count=1)
    return document.encode("utf-8")


def inline(document: bytes) -> str:
    """An SVG document ready to sit inside an HTML page: without its XML prologue."""
    text = document.decode("utf-8")
    return text[text.index("<svg") :]


def png(
    instrument: instruments.Instrument | str,
    points: Points,
    dosing: Sequence[datetime] = (),
    *,
    overrides: dict | None = None,
    band_set: instruments.BandSet | None = None,
    tz: tzinfo | None = None,
) -> bytes:
    fig = figure(instrument, points, dosing, overrides=overrides, band_set=band_set, tz=tz)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _band_words(label: str | None) -> str:
    return f" ({label[:1].lower()}{label[1:]})" if label else ""


def _band_label(inst: instruments.Instrument, point: Point) -> str | None:
    if point.band:
        return point.band
    bands = _band_set(inst, None)
    return bands.band_for(point.total).label if bands is not None else None


def describe(
    instrument: instruments.Instrument | str,
    points: Points,
    dosing: Sequence[datetime] = (),
    *,
    overrides: dict | None = None,
    tz: tzinfo | None = None,
) -> str:
    """The picture in one sentence, e.g. 'GAD-7: 6 scores from 2026-01-05 to 2026-03-02;
    latest 7 (mild), down 9 from baseline 16; meaningful improvement, response'."""
    inst = _instrument(instrument)
    ep = episode(inst, _as_points(points), overrides=overrides)
    scored = [p for p in ep.points if p.total is not None]
    incomplete = len(ep.points) - len(scored)
    parts = []
    if not scored:
        parts.append(f"{inst.short_name}: no scores")
    else:
        first, last = (_local(p.at, tz).date().isoformat() for p in (scored[0], scored[-1]))
        if len(scored) == 1:
            parts.append(f"{inst.short_name}: 1 score on {first}")
        else:
            parts.append(f"{inst.short_name}: {len(scored)} scores from {first} to {last}")
        latest = scored[-1]
        sentence = f"latest {latest.total}{_band_words(_band_label(inst, latest))}"
        if latest is ep.baseline:
            sentence += ", the baseline"
        else:
            change = latest.total - ep.baseline.total
            if change < 0:
                sentence += f", down {-change} from baseline {ep.baseline.total}"
            elif change > 0:
                sentence += f", up {change} from baseline {ep.baseline.total}"
            else:
                sentence += f", no change from baseline {ep.baseline.total}"
        parts.append(sentence)
        if words := outcome_words(ep):
            parts.append(", ".join(words))
    if shown := dosing_shown(scored, dosing):
        parts.append(_count(len(shown), "dosing session"))
    if incomplete:
        parts.append(f"{_count(incomplete, 'incomplete form')} without a total")
    return "; ".join(parts)
