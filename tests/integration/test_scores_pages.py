"""The scores page, the picture downloads and the chart's scores section: what each role sees,
what is audited, and a fixed number of queries however many scores there are."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions
from kapstone.assessments.models import Assessment, RiskAlert
from kapstone.assessments.queries import chart_scores, dosing_times, instrument_scores
from kapstone.core.models import Organization, Site
from kapstone.dosing import actions as dosing_actions
from kapstone.dosing.models import DosingSession
from tests.integration.access import events_since, last_seq

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLINICAL = [Role.PRESCRIBER, Role.NURSE, Role.THERAPIST]
NOT_CLINICAL = [Role.FRONT_DESK, Role.BILLING, Role.RESEARCHER, Role.CLINIC_ADMIN]


def answers(instrument: str, total: int, items: int) -> dict[str, int]:
    """Answers (0-3 each) adding up to ``total``, spread from the first item."""
    values = {}
    for i in range(1, items + 1):
        values[f"q{i}"] = min(3, total)
        total -= values[f"q{i}"]
    assert total == 0
    return values


def score(by, patient, instrument, total, days_ago, timepoint="weekly", **extra):
    items = {"gad7": 7, "phq9": 9}[instrument]
    given = answers(instrument, total, items)
    given.update(extra)
    return actions.record_assessment(
        by=by,
        patient=patient,
        instrument=instrument,
        answers=given,
        answered_at=timezone.now() - timedelta(days=days_ago),
        timepoint=timepoint,
    )


@pytest.fixture
def course(make_patient, clinician):
    """A GAD-7 course (16 at baseline to 7), an earlier score from a previous episode, and a
    PHQ-9 whose last form raised a suicide-risk alert."""
    patient = make_patient(first_name="Marigold", last_name="Ashcombe")
    score(clinician, patient, "gad7", 11, 60)
    for days_ago, total, timepoint in [
        (42, 16, "baseline"),
        (35, 14, "pre_dose"),
        (28, 12, "post_24h"),
        (21, 9, "weekly"),
        (14, 8, "weekly"),
        (7, 7, "weekly"),
    ]:
        score(clinician, patient, "gad7", total, days_ago, timepoint)
    score(clinician, patient, "phq9", 18, 40, "baseline")
    phq9 = {f"q{i}": 1 for i in range(1, 10)}  # item 9 above 0: an urgent alert
    actions.record_assessment(
        by=clinician,
        patient=patient,
        instrument="phq9",
        answers=phq9,
        answered_at=timezone.now() - timedelta(days=3),
    )
    return patient


@pytest.fixture
def site(clinic):
    return clinic[1]


def schedule(clinician, patient, site: Site, days_ago: float, status: str | None = None):
    session = dosing_actions.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now() - timedelta(days=days_ago),
        prescriber=clinician,
    )
    if status == "cancelled":
        dosing_actions.change_status(by=clinician, session=session, status="cancelled")
    return session


# The chart's summary


def test_chart_scores_summarises_each_instrument(course):
    # Act
    scores = chart_scores(course)

    # Assert
    gad7, phq9 = scores  # instruments with outcome rules, by short name
    assert gad7.instrument.id == "gad7"
    assert gad7.count == 7
    assert gad7.latest.assessment.total == 7
    assert gad7.latest.label == "Mild"
    assert gad7.baseline.assessment.total == 16
    assert gad7.episode.baseline_marked
    assert gad7.latest_change == "\u22129 (\u221256.2%)"
    assert gad7.outcome_words == ["meaningful improvement", "response"]
    assert gad7.open_alerts == 0
    assert [row.earlier for row in gad7.rows] == [True] + [False] * 6
    assert phq9.instrument.id == "phq9"
    assert (phq9.latest.assessment.total, phq9.latest_change) == (9, "\u22129 (\u221250.0%)")
    assert phq9.outcome_words == ["meaningful improvement", "response"]
    assert phq9.open_alerts == 1
    assert [name for name, urgent, _ in phq9.latest.flag_names] == ["suicide risk"]


def test_chart_counts_an_alert_filed_against_another_records_assessment(
    course, make_patient, clinician
):
    """The chart counts open alerts from the patient's own scores; an alert whose assessment
    sits on another record (a merge gone wrong, say) is still counted, by its instrument."""
    other = make_patient(first_name="Other", last_name="Record")
    score(clinician, other, "gad7", 5, 2)
    misfiled = Assessment.objects.filter(patient=course, instrument="gad7").first()
    RiskAlert.objects.create(
        patient=other,
        assessment=misfiled,
        code="test",
        detail="filed on the wrong record",
        raised_at=timezone.now(),
    )
    (gad7,) = chart_scores(other)
    assert gad7.open_alerts == 1
    gad7, phq9 = chart_scores(course)
    assert (gad7.open_alerts, phq9.open_alerts) == (0, 1)


def test_chart_scores_takes_clinic_overrides(course):
    # Act
    scores = chart_scores(course, overrides={"gad7": {"response_reduction_percent": 60}})

    # Assert: 16 to 7 is a fall of 56%: not a response under a 60% rule
    assert scores[0].outcome_words == ["meaningful improvement"]


def test_chart_scores_for_a_patient_without_scores(make_patient):
    # Act / Assert
    assert chart_scores(make_patient()) == []


@pytest.mark.parametrize("count", [1, 20])
def test_chart_scores_queries_are_fixed(count, make_patient, clinician, django_assert_num_queries):
    # Arrange
    patient = make_patient()
    for n in range(count):
        score(clinician, patient, "gad7", n % 22, 100 - n, "baseline" if n == 0 else "weekly")
    score(clinician, patient, "phq9", 5, 1)

    # Act / Assert: the scores, and the open alerts counted per instrument (sent together
    # on PostgreSQL)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        scores = chart_scores(patient)
    assert [s.count for s in scores] == [count, 1]


def test_instrument_scores_reads_one_instrument(course, django_assert_num_queries):
    # Act
    with django_assert_num_queries(2):
        phq9 = instrument_scores(course, "phq9")
    with django_assert_num_queries(1):
        none = instrument_scores(course, "pcl5")

    # Assert
    assert phq9.count == 2 and phq9.open_alerts == 1
    assert none is None


def test_chart_partial_lists_each_instrument_and_links_to_the_page(course):
    # Act
    html = render_to_string(
        "assessments/_chart_scores.html", {"patient": course, "scores": chart_scores(course)}
    )

    # Assert
    assert '<h2 id="chart-scores-heading">Questionnaire scores</h2>' in html
    assert reverse("patient_scores", args=[course.pk]) in html
    assert "GAD-7" in html and "PHQ-9" in html
    assert "<strong>7</strong> Mild" in html
    assert "\u22129 (\u221256.2%)" in html
    assert "1 open" in html
    assert "response" in html


def test_chart_partial_without_scores(make_patient):
    # Arrange
    patient = make_patient()

    # Act
    html = render_to_string("assessments/_chart_scores.html", {"patient": patient, "scores": []})

    # Assert
    assert "No questionnaire scores recorded yet." in html


# Dosing sessions on the pictures


def test_dosing_times_leave_out_cancelled_and_future_sessions(course, clinician, site):
    # Arrange
    done = schedule(clinician, course, site, 30)
    schedule(clinician, course, site, 20, status="cancelled")
    schedule(clinician, course, site, -5)  # next week

    # Act
    times = dosing_times(course)

    # Assert
    assert times == [DosingSession.objects.get(pk=done.pk).scheduled_start]


# The scores page


@pytest.mark.parametrize("role", CLINICAL, ids=str)
def test_clinical_roles_see_every_score_and_trend(role, course, client_for, clinician, site):
    # Arrange
    schedule(clinician, course, site, 33)
    schedule(clinician, course, site, 26)
    client = client_for(role)
    before = last_seq()

    # Act
    response = client.get(reverse("patient_scores", args=[course.pk]))

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    assert course.record_number in html
    # A trend for each instrument, inline, named by its description
    assert html.count("<svg ") == 2
    assert 'id="gad7-title">GAD-7: 7 scores from' in html
    assert "latest 7 (mild), down 9 from baseline 16; meaningful improvement, response" in html
    assert "2 dosing sessions" in html
    assert html.count('id="gad7-dosing-') == 2
    assert "<?xml" not in html
    # The episode's baseline, and every score in the table
    assert "Baseline: <strong>16</strong> (Severe)" in html
    assert "marked as the baseline" in html
    assert len(re.findall(r"<tr class=\"[a-z ]*\">\s*<td>\d{4}-\d\d-\d\d", html)) == 9
    assert "before the baseline" in html
    assert 'class="tag outcome-response">response</span>' in html
    assert "suicide risk" in html
    assert html.count("Entered by staff") == 9
    # Downloads
    for fmt in ("png", "svg"):
        assert reverse("patient_scores_picture", args=[course.pk, "gad7", fmt]) in html
    # One read of the record, naming the section
    events = events_since(before)
    assert [(e.action, e.patient_id, e.detail) for e in events] == [
        ("patient.view", course.pk, {"sections": ["scores"]})
    ]


def test_page_follows_the_clinics_outcome_rules(course, client_for):
    # Arrange: 16 to 7 is a fall of 56%, not a response under the clinic's 60% rule
    org = Organization.current()
    org.settings_overrides = {"outcomes": {"gad7": {"response_reduction_percent": 60}}}
    org.save()
    client = client_for(Role.PRESCRIBER)

    # Act
    html = client.get(reverse("patient_scores", args=[course.pk])).content.decode()

    # Assert
    assert "latest 7 (mild), down 9 from baseline 16; meaningful improvement</title>" in html
    assert "response: a fall of at least 60%" in html


@pytest.mark.parametrize("role", NOT_CLINICAL, ids=str)
def test_other_roles_are_refused_the_page(role, course, client_for):
    # Arrange
    client = client_for(role)
    before = last_seq()

    # Act
    response = client.get(reverse("patient_scores", args=[course.pk]))

    # Assert
    assert response.status_code == 403
    assert course.last_name not in response.content.decode()
    assert [e.action for e in events_since(before)] == ["access.denied"]


def test_page_for_a_patient_without_scores(make_patient, client_for):
    # Arrange
    patient = make_patient()

    # Act
    response = client_for(Role.NURSE).get(reverse("patient_scores", args=[patient.pk]))

    # Assert
    assert response.status_code == 200
    assert "No questionnaire scores recorded yet." in response.content.decode()


def test_page_for_an_unknown_patient_is_not_found(clinic, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    before = last_seq()

    # Act
    response = client.get(reverse("patient_scores", args=[999999]))

    # Assert
    assert response.status_code == 404
    assert events_since(before) == []


def test_page_queries_do_not_grow_with_the_scores(make_patient, clinician, client_for, site):
    # Arrange
    small, large = make_patient(), make_patient()
    score(clinician, small, "gad7", 12, 50, "baseline")
    for n in range(20):
        score(clinician, large, "gad7", 21 - n, 50 - n, "baseline" if n == 0 else "weekly")
    for patient in (small, large):
        schedule(clinician, patient, site, 45)
    client = client_for(Role.PRESCRIBER)
    client.get(reverse("home"))  # the session's first request stores its idle timer

    # Act
    counts = []
    for patient in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("patient_scores", args=[patient.pk]))
        assert response.status_code == 200
        counts.append(len(queries))

    # Assert
    assert counts[0] == counts[1]


# The picture downloads


@pytest.mark.parametrize(("fmt", "content_type"), [("png", "image/png"), ("svg", "image/svg+xml")])
def test_download_is_the_picture_without_the_patients_name(fmt, content_type, course, client_for):
    # Arrange
    client = client_for(Role.THERAPIST)
    before = last_seq()

    # Act
    response = client.get(reverse("patient_scores_picture", args=[course.pk, "gad7", fmt]))

    # Assert
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (f'attachment; filename="gad7-scores-{today}.{fmt}"')
    assert response["Cache-Control"] == "no-store, private"
    if fmt == "png":
        assert response.content.startswith(PNG_SIGNATURE)
    else:
        text = response.content.decode()
        assert text.startswith("<?xml")
        for identifying in (course.first_name, course.last_name, course.record_number):
            assert identifying not in text
    events = events_since(before)
    assert [(e.action, e.patient_id, e.detail) for e in events] == [
        (
            "patient.export",
            course.pk,
            {"sections": ["scores"], "instrument": "gad7", "format": fmt},
        )
    ]


def test_download_is_the_same_picture_the_page_shows(course, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)

    # Act
    page = client.get(reverse("patient_scores", args=[course.pk])).content.decode()
    download = client.get(reverse("patient_scores_picture", args=[course.pk, "gad7", "svg"]))

    # Assert
    svg = download.content.decode()
    assert svg[svg.index("<svg") :].strip() in page


@pytest.mark.parametrize(
    ("instrument", "fmt"),
    [
        ("nosuch", "png"),  # not an instrument
        ("pcl5", "png"),  # an instrument with no scores for this patient
        ("cssrs_screener", "svg"),  # a risk level, never a total to draw
    ],
    ids=["unknown", "no-scores", "no-total"],
)
def test_download_with_nothing_to_draw_is_not_found(instrument, fmt, course, clinician, client_for):
    # Arrange
    actions.record_assessment(
        by=clinician,
        patient=course,
        instrument="cssrs_screener",
        answers={"q1": False, "q2": False},
        answered_at=timezone.now() - timedelta(days=2),
    )
    client = client_for(Role.NURSE)
    before = last_seq()

    # Act
    response = client.get(reverse("patient_scores_picture", args=[course.pk, instrument, fmt]))

    # Assert
    assert response.status_code == 404
    assert events_since(before) == []


def test_download_in_another_format_is_not_a_page(course, client_for):
    # Act
    response = client_for(Role.NURSE).get(f"/patients/{course.pk}/scores/gad7.pdf")

    # Assert
    assert response.status_code == 404


@pytest.mark.parametrize("role", NOT_CLINICAL, ids=str)
def test_other_roles_are_refused_the_download(role, course, client_for):
    # Arrange
    client = client_for(role)

    # Act
    response = client.get(reverse("patient_scores_picture", args=[course.pk, "gad7", "png"]))

    # Assert
    assert response.status_code == 403
    assert not response.content.startswith(PNG_SIGNATURE)
