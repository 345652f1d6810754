"""The clinician's presentation checklist: recorded on its page, read by the profile, the plan
form's suggestions and the treatment overview."""

import re

import pytest
from django.urls import reverse

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.audit.models import AuditEvent
from kapstone.clinical.treatment_history import PsychotherapyModality
from kapstone.core.models import Organization
from kapstone.errors import AccessDenied, InvalidInputs
from kapstone.treatment import actions
from kapstone.treatment.models import PresentationReview

LABELS = {m.value: m.label for m in PsychotherapyModality}


def suggested(html: str) -> set[str]:
    """The modalities the page suggests, by value."""
    section = html[html.index("<h2>Suggested integration modalities</h2>") :]
    ends = [at for at in (section.find("<h2>", 10), section.find("<form")) if at != -1]
    section = section[: min(ends)]
    shown = set(re.findall(r"<li><strong>([^<]+)</strong>", section))
    return {value for value, label in LABELS.items() if label in shown}


@pytest.mark.parametrize(
    ("ticked", "expected"),
    [
        ([], set()),
        (["trauma_origin"], {"emdr"}),
        (["intrusive_imagery"], {"art"}),
        (["parts_language"], {"ifs"}),
        (["avoidance"], {"cbt", "exposure"}),
        (["worry_rumination"], {"cbt"}),
        (["physical_symptoms"], {"somatic"}),
        (["trauma_origin", "intrusive_imagery", "parts_language"], {"emdr", "art", "ifs"}),
    ],
    ids=lambda value: "+".join(value) if isinstance(value, list) else None,
)
def test_the_checklist_decides_the_suggestions_on_the_page(patient, client_for, ticked, expected):
    # Arrange
    client = client_for(Role.THERAPIST)

    # Act
    posted = client.post(reverse("presentation_record", args=[patient.pk]), {"ticked": ticked})
    page = client.get(reverse("presentation", args=[patient.pk]))

    # Assert
    assert posted.status_code == 302
    html = page.content.decode()
    assert suggested(html) == expected
    assert "The clinician decides" in html


def test_the_page_shows_the_derivation_and_the_current_ticks(patient, client_for, clinician):
    # Arrange
    actions.record_presentation(by=clinician, patient=patient, ticked=["avoidance"], note="")

    # Act
    html = client_for(Role.NURSE).get(reverse("presentation", args=[patient.pk])).content.decode()

    # Assert
    assert "Behavioral (avoidance) <strong>(leads)</strong>" in html
    assert "Mean of Avoids situations, places, people or reminders: yes" in html
    assert re.search(r'value="avoidance"[^>]*checked', html)
    assert not re.search(r'value="trauma_origin"[^>]*checked', html)


def test_reading_the_page_is_one_audited_view_of_the_patient(patient, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    before = AuditEvent.objects.count()

    # Act
    response = client.get(reverse("presentation", args=[patient.pk]))

    # Assert
    assert response.status_code == 200
    events = list(AuditEvent.objects.order_by("seq")[before:])
    assert [(e.action, e.patient_id, e.detail["page"]) for e in events] == [
        ("patient.view", patient.pk, "presentation")
    ]


@pytest.mark.parametrize(
    ("data", "field_text"),
    [
        ({"ticked": ["telepathy"]}, "What the clinician sees must be items of the presentation"),
        ({"ticked": ["avoidance"], "note": "x" * 2001}, "Note must be at most 2000 characters"),
    ],
    ids=["unknown-item", "note-too-long"],
)
def test_a_bad_checklist_is_refused_and_saves_nothing(patient, client_for, data, field_text):
    # Act
    response = client_for(Role.THERAPIST).post(
        reverse("presentation_record", args=[patient.pk]), data
    )

    # Assert
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert field_text in html
    assert "telepathy" not in html
    assert not PresentationReview.objects.exists()


def test_the_action_names_the_field_of_an_unknown_item(patient, clinician):
    with pytest.raises(InvalidInputs) as refused:
        actions.record_presentation(by=clinician, patient=patient, ticked=["avoidance", "x"])

    assert [e.field for e in refused.value.errors] == ["ticked"]
    assert "x" not in refused.value.errors[0].message
    assert not PresentationReview.objects.exists()


def test_only_a_clinician_who_screens_records_it(patient, make_staff):
    with pytest.raises(AccessDenied):
        actions.record_presentation(
            by=make_staff(Role.FRONT_DESK), patient=patient, ticked=["avoidance"]
        )


def test_recording_is_audited_without_the_answers(patient, clinician):
    # Act
    review = actions.record_presentation(
        by=clinician,
        patient=patient,
        ticked=["parts_language", "trauma_origin", "trauma_origin"],
        note="  Talks of a part that keeps watch  ",
    )

    # Assert: kept once each, in the checklist's order, with the rules version.
    assert review.ticked == ["trauma_origin", "parts_language"]
    assert review.note == "Talks of a part that keeps watch"
    assert review.rules_version == "v1"
    event = AuditEvent.objects.get(action="presentation.create")
    assert event.patient_id == patient.pk
    assert event.detail == {"fields": ["ticked", "note"], "rules_version": "v1"}


def test_the_latest_review_wins_and_the_earlier_stays(patient, clinician):
    # Arrange
    actions.record_presentation(by=clinician, patient=patient, ticked=["trauma_origin"])

    # Act
    actions.record_presentation(by=clinician, patient=patient, ticked=["parts_language"])

    # Assert
    assert PresentationReview.objects.filter(patient=patient).count() == 2
    assert actions.presentation_checklist(patient) == {
        "worry_rumination": False,
        "physical_symptoms": False,
        "avoidance": False,
        "trauma_origin": False,
        "intrusive_imagery": False,
        "parts_language": True,
    }


def test_the_plan_form_suggests_from_the_checklist_and_the_scores(patient, clinician, client_for):
    # Arrange: psychic HAM-A items high, so the cognitive domain leads; trauma origin ticked.
    answers = {f"q{i}": (3 if i in (1, 2, 3, 4, 5, 6, 14) else 1) for i in range(1, 15)}
    assessment_actions.record_assessment(
        by=clinician, patient=patient, instrument="hama", answers=answers
    )
    actions.record_presentation(by=clinician, patient=patient, ticked=["trauma_origin"])

    # Act
    html = client_for(Role.THERAPIST).get(reverse("plan_new", args=[patient.pk])).content.decode()

    # Assert
    assert suggested(html) == {"emdr", "cbt"}
    section = html[html.index("<h2>Suggested integration modalities</h2>") :]
    assert "Anxiety rooted in past events" in section
    assert "Worry and rumination lead the profile" in section


def test_the_overview_shows_the_profile_and_links_the_page(patient, clinician, client_for):
    # Arrange
    actions.record_presentation(by=clinician, patient=patient, ticked=["physical_symptoms"])

    # Act
    html = (
        client_for(Role.NURSE)
        .get(reverse("treatment_overview", args=[patient.pk]))
        .content.decode()
    )

    # Assert
    assert reverse("presentation", args=[patient.pk]) in html
    assert "<strong>Somatic (physical symptoms)</strong> (100%)" in html
    assert "Suggested integration modalities: Somatic therapy." in html


def test_the_plan_form_shows_volumes_at_the_clinics_stock_strengths(patient, client_for):
    # Arrange
    org = Organization.current()
    org.settings_overrides = {"protocols": {"stock": {"strengths_mg_per_ml": ["50"]}}}
    org.save()

    # Act
    html = client_for(Role.NURSE).get(reverse("plan_new", args=[patient.pk])).content.decode()

    # Assert: 0.5 mg/kg of 70 kg is 35 mg, 0.70 mL at 50 mg/mL.
    table = html[html.index("<h2>Starting doses</h2>") : html.index("</table>")]
    assert "<td>0.70 mL at 50 mg/mL (35 mg)</td>" in table
    assert "at 10 mg/mL" not in html and "at 100 mg/mL" not in html
