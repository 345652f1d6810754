"""The route comparison drawn: predicted plasma concentration over time for each route's dose.

An estimate from the published compartment models (kapstone.clinical.pk), shown with its
assumptions beside it. Built with matplotlib's Figure objects only (no pyplot state), through
the same one-time setup as the score pictures, so pages can draw it from any thread.
"""

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kapstone.assessments.trends import _mpl


@dataclass(frozen=True)
class Curve:
    label: str
    times_min: Sequence[float]
    concentrations_ng_ml: Sequence[float]
    this_plan: bool = False


def describe(curves: Sequence[Curve]) -> str:
    parts = []
    for curve in curves:
        peak = max(curve.concentrations_ng_ml, default=0.0)
        at = curve.times_min[list(curve.concentrations_ng_ml).index(peak)] if peak else 0
        mark = " (this plan)" if curve.this_plan else ""
        parts.append(f"{curve.label}{mark}: peak about {peak:.0f} ng/mL at {at:.0f} min")
    return "Estimated plasma ketamine concentration by route. " + "; ".join(parts)


def svg(curves: Sequence[Curve]) -> str:
    """An inline SVG (no XML prologue) with the description as its accessible name."""
    mpl = _mpl()
    fig = mpl["Figure"](figsize=(7.2, 3.2), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for curve in curves:
        ax.plot(
            [t / 60 for t in curve.times_min],
            list(curve.concentrations_ng_ml),
            label=curve.label + (" (this plan)" if curve.this_plan else ""),
            linewidth=2.4 if curve.this_plan else 1.2,
            linestyle="-" if curve.this_plan else "--",
        )
    ax.set_xlabel("Hours after the dose starts")
    ax.set_ylabel("ng/mL (estimate)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    fig.tight_layout()
    text = describe(curves)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Title": text})
    document = buffer.getvalue()
    document = document[document.index("<svg") :]
    # Ids unique on the page, and the description as the picture's name.
    document = re.sub(r'id="([^"]+)"', r'id="pk-\1"', document)
    document = re.sub(r'(xlink:href|href)="#([^"]+)"', r'\1="#pk-\2"', document)
    document = re.sub(r"url\(#([^)]+)\)", r"url(#pk-\1)", document)
    document = document.replace("<title>", '<title id="pk-title">', 1)
    return re.sub(r"<svg\b", '<svg role="img" aria-labelledby="pk-title"', document, count=1)
