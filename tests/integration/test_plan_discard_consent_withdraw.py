"""Discarding a draft plan, withdrawing consent, and the consent form version the clinic sets."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.assessments import actions as assessment_actions
from kapstone.audit.models import AuditEvent
from kapstone.clinical.eligibility import BloodPressure
from kapstone.core.models import Organization
from kapstone.dosing import gates
from kapstone.dosing.actions import record_facts
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.patients import actions as patient_actions
from kapstone.treatment import actions
from kapstone.treatment.models import Consent, TreatmentPlan

NO = {
    "aneurysmal_vascular_disease": False,
    "arteriovenous_malformation": False,
    "intracerebral_haemorrhage": False,
    "psychosis_history": False,
    "pregnant": False,
    "breastfeeding": False,
    "cardiovascular_disease": False,
    "substance_use_history": False,
    "fear_of_altered_states": False,
}
PLAN = {
    "program": "standard",
    "route": "iv",
    "sessions_per_week": "1",
    "planned_dosing_sessions": 6,
    "modalities": ["act"],
    "goals": "Fewer panic attacks",
}
REASON = "The patient chose another route after talking it over"


@pytest.fixture
def prescriber(make_staff):
    return make_staff(Role.PRESCRIBER)


@pytest.fixture
def screened(make_patient, clinician):
    """An eligible patient with an escort and no consent yet."""
    patient = make_patient()
    patient_actions.record_no_known_allergies(by=clinician, patient=patient)
    patient_actions.add_contact(
        by=clinician, patient=patient, name="Sam", relationship="partner", phone="1", is_escort=True
    )
    for instrument, answers in [
        ("auditc", {"q1": 0, "q2": 0, "q3": 0}),
        ("dast10", {f"q{i}": False for i in range(1, 11)}),
    ]:
        assessment_actions.record_assessment(
            by=clinician, patient=patient, instrument=instrument, answers=answers
        )
    actions.screen_patient(
        by=clinician, patient=patient, answers=NO, blood_pressure=BloodPressure(120, 80)
    )
    return patient


def set_form_version(version: str) -> None:
    org = Organization.current()
    org.settings_overrides = {"consent": {"form_version": version}}
    org.save()


def _violates(model, pk, **changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=pk).update(**changes)


# --- Discarding a draft ----------------------------------------------------------------------


def test_a_draft_is_discarded_with_its_reason(screened, prescriber):
    # Arrange
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)

    # Act
    discarded = actions.discard_plan(by=prescriber, plan=draft, reason=f"  {REASON}  ")

    # Assert
    stored = TreatmentPlan.objects.get(pk=draft.pk)
    assert (stored.status, stored.discarded_by, stored.discard_reason) == (
        "discarded",
        prescriber,
        REASON,
    )
    assert stored.discarded_at is not None and discarded.pk == draft.pk
    event = AuditEvent.objects.get(action="plan.discard")
    assert event.patient_id == screened.pk and REASON not in str(event.detail)


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        ("", "is required: write why you discard this draft"),
        ("   ", "is required: write why you discard this draft"),
        ("too short", "must be at least 10 characters"),
        ("x" * 2001, "must be at most 2000 characters"),
    ],
    ids=["empty", "blank", "short", "long"],
)
def test_a_discard_needs_a_written_reason(screened, prescriber, reason, rule):
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)

    with pytest.raises(InvalidInput) as refused:
        actions.discard_plan(by=prescriber, plan=draft, reason=reason)

    assert refused.value.field == "reason" and rule in refused.value.message
    assert TreatmentPlan.objects.get(pk=draft.pk).status == "draft"


@pytest.mark.parametrize("status", ["signed", "superseded", "discarded"])
def test_only_a_draft_is_discarded(screened, prescriber, status):
    # Arrange: the first version signed, then superseded or discarded as the case needs.
    actions.record_consent(by=prescriber, patient=screened)
    first = actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    plan = actions.sign_plan(by=prescriber, plan=first)
    if status == "superseded":
        actions.sign_plan(by=prescriber, plan=actions.revise_plan(by=prescriber, plan=plan))
    if status == "discarded":
        plan = actions.discard_plan(
            by=prescriber, plan=actions.revise_plan(by=prescriber, plan=plan), reason=REASON
        )

    # Act
    with pytest.raises(InvalidInput) as refused:
        actions.discard_plan(by=prescriber, plan=plan, reason=REASON)

    # Assert
    assert refused.value.field == "status"
    assert f"only a draft is discarded: a {status} plan stays in the record" in str(refused.value)
    assert TreatmentPlan.objects.get(pk=plan.pk).status == status
    assert not actions.can_discard(TreatmentPlan.objects.get(pk=plan.pk), prescriber.roles)


def test_discarding_needs_the_drafting_permission(screened, prescriber, make_staff):
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)

    with pytest.raises(AccessDenied):
        actions.discard_plan(by=make_staff(Role.FRONT_DESK), plan=draft, reason=REASON)


def test_the_plan_page_offers_discard_for_a_draft_only(screened, prescriber, client_for):
    # Arrange
    actions.record_consent(by=prescriber, patient=screened)
    signed = actions.sign_plan(
        by=prescriber, plan=actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    )
    draft = actions.revise_plan(by=prescriber, plan=signed)
    client = client_for(Role.THERAPIST)

    # Act
    draft_page = client.get(reverse("plan_detail", args=[screened.pk, draft.pk]))
    signed_page = client.get(reverse("plan_detail", args=[screened.pk, signed.pk]))

    # Assert
    assert reverse("plan_discard", args=[screened.pk, draft.pk]) in draft_page.content.decode()
    assert "Discard" not in signed_page.content.decode()


def test_the_discard_page_refuses_a_signed_plan_saying_why(screened, prescriber, client_for):
    # Arrange
    actions.record_consent(by=prescriber, patient=screened)
    signed = actions.sign_plan(
        by=prescriber, plan=actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    )

    # Act
    response = client_for(Role.NURSE).post(
        reverse("plan_discard", args=[screened.pk, signed.pk]), {"reason": REASON}
    )

    # Assert
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was saved" in html
    assert "only a draft is discarded: a signed plan stays in the record" in html
    assert TreatmentPlan.objects.get(pk=signed.pk).status == "signed"


def test_the_discard_page_without_a_reason_saves_nothing(screened, prescriber, client_for):
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)

    response = client_for(Role.NURSE).post(
        reverse("plan_discard", args=[screened.pk, draft.pk]), {"reason": "no"}
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "Reason for discarding this draft must be at least 10 characters" in html
    assert TreatmentPlan.objects.get(pk=draft.pk).status == "draft"


def test_database_keeps_a_discard_and_its_reason_together(screened, prescriber):
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)

    _violates(TreatmentPlan, draft.pk, status="discarded")
    _violates(TreatmentPlan, draft.pk, discard_reason=REASON)
    _violates(
        TreatmentPlan,
        draft.pk,
        status="discarded",
        discarded_by=prescriber,
        discarded_at=timezone.now(),
        discard_reason="",
    )


# --- Withdrawing consent ---------------------------------------------------------------------


def test_withdrawal_makes_consent_not_current(screened, prescriber):
    # Arrange
    consent = actions.record_consent(by=prescriber, patient=screened)
    assert actions.current_consent(screened) == consent

    # Act
    actions.withdraw_consent(by=prescriber, consent=consent, reason="Changed their mind")

    # Assert
    stored = Consent.objects.get(pk=consent.pk)
    assert stored.withdrawn and stored.withdrawn_by == prescriber
    assert stored.withdrawal_reason == "Changed their mind"
    assert actions.current_consent(screened) is None
    assert actions.latest_consent(screened) == stored
    event = AuditEvent.objects.get(action="consent.withdraw")
    assert event.patient_id == screened.pk and "Changed" not in str(event.detail)


def test_a_plan_is_not_signed_after_consent_is_withdrawn(screened, prescriber):
    # Arrange
    consent = actions.record_consent(by=prescriber, patient=screened)
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    actions.withdraw_consent(by=prescriber, consent=consent, reason="Changed their mind")

    # Act
    with pytest.raises(InvalidInput) as refused:
        actions.sign_plan(by=prescriber, plan=draft)

    # Assert
    assert refused.value.field == "consent" and "was withdrawn" in refused.value.message
    assert TreatmentPlan.objects.get(pk=draft.pk).status == "draft"


def test_the_pre_dose_gate_holds_for_no_consent_after_withdrawal(screened, prescriber):
    # Arrange
    consent = actions.record_consent(by=prescriber, patient=screened)
    actions.sign_plan(
        by=prescriber, plan=actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    )
    assert record_facts(screened)[0] is True

    # Act
    actions.withdraw_consent(by=prescriber, consent=consent, reason="Changed their mind")
    consent_current, plan = record_facts(screened)
    result = gates.evaluate_pre_dose(
        gates.PreDoseFacts(consent_current=consent_current, plan_signed=plan is not None)
    )

    # Assert
    assert consent_current is False and plan is not None
    assert ("consent", gates.Outcome.HOLD) in [(f.item, f.outcome) for f in result.findings]


def test_consenting_again_after_withdrawal_covers_treatment(screened, prescriber):
    # Arrange
    first = actions.record_consent(
        by=prescriber, patient=screened, consented_at=timezone.now() - timedelta(days=2)
    )
    actions.withdraw_consent(by=prescriber, consent=first, reason="Changed their mind")

    # Act: consent dated before the withdrawal would revive it; after it, it counts.
    with pytest.raises(InvalidInputs) as refused:
        actions.record_consent(
            by=prescriber, patient=screened, consented_at=timezone.now() - timedelta(days=1)
        )
    again = actions.record_consent(by=prescriber, patient=screened)

    # Assert
    assert [e.field for e in refused.value.errors] == ["consented_at"]
    assert actions.current_consent(screened) == again
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    assert actions.sign_plan(by=prescriber, plan=draft).status == "signed"


@pytest.mark.parametrize(
    ("reason", "rule"),
    [("", "is required"), ("  ", "is required"), ("x" * 2001, "must be at most 2000")],
    ids=["empty", "blank", "long"],
)
def test_a_withdrawal_needs_a_reason(screened, prescriber, reason, rule):
    consent = actions.record_consent(by=prescriber, patient=screened)

    with pytest.raises(InvalidInput) as refused:
        actions.withdraw_consent(by=prescriber, consent=consent, reason=reason)

    assert refused.value.field == "reason" and rule in refused.value.message
    assert not Consent.objects.get(pk=consent.pk).withdrawn


def test_only_the_consent_in_force_is_withdrawn_once(screened, prescriber, make_staff):
    # Arrange
    older = actions.record_consent(
        by=prescriber, patient=screened, consented_at=timezone.now() - timedelta(days=1)
    )
    latest = actions.record_consent(by=prescriber, patient=screened)
    actions.withdraw_consent(by=prescriber, consent=latest, reason="Changed their mind")

    # Act / Assert
    for consent, rule in [(older, "a later consent replaced"), (latest, "already withdrawn")]:
        with pytest.raises(InvalidInput) as refused:
            actions.withdraw_consent(by=prescriber, consent=consent, reason="Changed their mind")
        assert refused.value.field == "consent" and rule in refused.value.message
    with pytest.raises(AccessDenied):
        actions.withdraw_consent(
            by=make_staff(Role.BILLING), consent=latest, reason="Changed their mind"
        )


def test_the_overview_shows_a_withdrawal_and_refuses_a_blank_reason(
    screened, prescriber, client_for
):
    # Arrange
    consent = actions.record_consent(by=prescriber, patient=screened)
    client = client_for(Role.THERAPIST)
    url = reverse("consent_withdraw", args=[screened.pk, consent.pk])
    assert url in client.get(reverse("treatment_overview", args=[screened.pk])).content.decode()

    # Act
    refused = client.post(url, {"reason": ""})
    done = client.post(url, {"reason": "Moving away"})
    overview = client.get(reverse("treatment_overview", args=[screened.pk])).content.decode()

    # Assert
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.content.decode()
    assert done.status_code == 302
    assert "<strong>withdrawn</strong>" in overview and "Moving away" in overview
    assert url not in overview


def test_database_keeps_a_withdrawal_together(screened, prescriber):
    consent = actions.record_consent(by=prescriber, patient=screened)

    _violates(Consent, consent.pk, withdrawn_at=timezone.now())
    _violates(Consent, consent.pk, withdrawal_reason="Moving away")
    _violates(
        Consent,
        consent.pk,
        withdrawn_at=timezone.now(),
        withdrawn_by=prescriber,
        withdrawal_reason="",
    )


# --- The consent form version from the clinic's settings -------------------------------------


def test_consent_is_to_the_form_version_the_clinic_sets(screened, prescriber):
    # Arrange
    set_form_version("2024-03")

    # Act
    consent = actions.record_consent(by=prescriber, patient=screened)
    signed = actions.sign_plan(
        by=prescriber, plan=actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    )

    # Assert
    assert consent.form_version == "2024-03"
    assert signed.consent_form_version == "2024-03"
    assert record_facts(screened)[0] is True


def test_consent_to_an_earlier_form_is_not_current(screened, prescriber):
    # Arrange: consent to version 1, then the clinic moves to version 2.
    actions.record_consent(by=prescriber, patient=screened)
    draft = actions.draft_plan(by=prescriber, patient=screened, **PLAN)
    set_form_version("2")

    # Act
    with pytest.raises(InvalidInput) as refused:
        actions.sign_plan(by=prescriber, plan=draft)

    # Assert
    assert actions.current_consent(screened) is None
    assert actions.latest_consent(screened).form_version == "1"
    assert refused.value.field == "consent" and "earlier version" in refused.value.message
    assert record_facts(screened)[0] is False


def test_the_overview_asks_for_consent_to_the_clinics_version(screened, prescriber, client_for):
    # Arrange
    actions.record_consent(by=prescriber, patient=screened)
    set_form_version("2")

    # Act
    html = (
        client_for(Role.NURSE)
        .get(reverse("treatment_overview", args=[screened.pk]))
        .content.decode()
    )

    # Assert
    assert "an earlier version of the form" in html
    assert "Record consent to form version 2" in html


def test_the_consent_page_records_the_clinics_version(screened, client_for):
    set_form_version("3")

    response = client_for(Role.NURSE).post(
        reverse("consent_record", args=[screened.pk]), {"consented_at": "2026-01-05T09:30"}
    )

    assert response.status_code == 302
    assert Consent.objects.get(patient=screened).form_version == "3"
