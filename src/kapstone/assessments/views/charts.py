"""A patient's scores over time: the trend of each instrument, every score, and the pictures
as PNG or SVG for reports.

Opening the page is a read of the clinical record (``patient.view``, naming the section); a
downloaded picture is an export (``patient.export``). The pictures carry no patient name and
neither do their file names.
"""

from dataclasses import dataclass

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, re_path, reverse
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.assessments import queries, trends
from kapstone.assessments.queries import InstrumentScores
from kapstone.audit.recording import record
from kapstone.clinical import instruments
from kapstone.core.models import Organization
from kapstone.core.permissions import requires
from kapstone.patients.models import Patient

SECTION = "scores"
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


@dataclass(frozen=True)
class Trend:
    scores: InstrumentScores
    svg: str | None  # inline, without its XML prologue; None: nothing to draw
    description: str
    links: dict[str, str]


def _picture(scores: InstrumentScores, dosing, fmt: str, overrides) -> bytes:
    draw = trends.svg if fmt == "svg" else trends.png
    return draw(
        scores.instrument,
        scores.points,
        dosing,
        overrides=overrides,
        band_set=scores.band_set,
        tz=timezone.get_current_timezone(),
    )


def _outcome_overrides() -> dict:
    """The clinic's outcome thresholds, by instrument id."""
    return Organization.current().config.outcome_overrides


@requires(P.PATIENT_VIEW_CLINICAL)
def patient_scores(request, pk):
    patient = get_object_or_404(Patient.objects.select_related("home_site"), pk=pk)
    dosing = queries.dosing_times(patient)
    tz = timezone.get_current_timezone()
    overrides = _outcome_overrides()
    shown = []
    for scores in queries.chart_scores(patient, overrides=overrides):
        inst = scores.instrument
        if not scores.drawable:
            shown.append(Trend(scores, None, "", {}))
            continue
        links = {
            fmt: reverse("patient_scores_picture", args=[patient.pk, inst.id, fmt])
            for fmt in FORMATS
        }
        own = overrides.get(inst.id)
        picture = trends.inline(_picture(scores, dosing, "svg", own))
        description = trends.describe(inst, scores.points, dosing, overrides=own, tz=tz)
        shown.append(Trend(scores, picture, description, links))
    record(
        actor=request.user, action="patient.view", target=patient, detail={"sections": [SECTION]}
    )
    return render(
        request,
        "assessments/scores.html",
        {"patient": patient, "trends": shown, "dosing_count": len(dosing)},
    )


@requires(P.PATIENT_VIEW_CLINICAL)
def patient_scores_picture(request, pk, instrument, fmt):
    patient = get_object_or_404(Patient, pk=pk)
    if instrument not in instruments.ids():
        raise Http404("no such instrument")
    overrides = _outcome_overrides()
    scores = queries.instrument_scores(patient, instrument, overrides=overrides)
    if scores is None or not scores.drawable:
        raise Http404("no scores to draw")
    content = _picture(scores, queries.dosing_times(patient), fmt, overrides.get(instrument))
    record(
        actor=request.user,
        action="patient.export",
        target=patient,
        detail={"sections": [SECTION], "instrument": instrument, "format": fmt},
    )
    response = HttpResponse(content, content_type=FORMATS[fmt])
    # The instrument and the day it was drawn; never the patient's name.
    filename = f"{instrument}-scores-{timezone.localdate().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store, private"
    return response


urlpatterns = [
    path("patients/<int:pk>/scores/", patient_scores, name="patient_scores"),
    re_path(
        r"^patients/(?P<pk>[0-9]+)/scores/(?P<instrument>[a-z0-9_]+)\.(?P<fmt>png|svg)$",
        patient_scores_picture,
        name="patient_scores_picture",
    ),
]
