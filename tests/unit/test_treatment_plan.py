import dataclasses
from decimal import Decimal

import pytest

from kapstone.clinical import dose, protocols
from kapstone.clinical import treatment_plan as tp
from kapstone.clinical.dose import DoseOverride, Signer
from kapstone.clinical.treatment_plan import TRANSITIONS, Consent, Plan, PlanContent, PlanStatus
from kapstone.errors import InvalidInput, InvalidInputs

LIB = protocols.library("v1")
FORM = "2027-01"
CONSENT = Consent(form_version=FORM)
PRESCRIBER = ["prescriber"]


def starting(mg="35", weight="70", override=None):
    rule = LIB.route("iv")
    calculated = dose.calculate(
        rule, weight_kg=weight, mg=mg, concentration_mg_per_ml="50", volume_step_ml="0.01"
    )
    return dose.decide(rule, calculated, override)


CONTENT = PlanContent(
    library_version="v1",
    program="standard",
    route="iv",
    sessions_per_week=Decimal(1),
    planned_dosing_sessions=6,
    starting_dose=starting(),
    titration="Consider 0.75 mg/kg after two sessions without response.",
    modalities=("ifs", "somatic"),
    goals=("Drive on the motorway again",),
)


def draft(**changes):
    return tp.new_draft(dataclasses.replace(CONTENT, **changes), roles=["therapist"])


def sign(plan, roles=PRESCRIBER, consent=CONSENT, previous=None):
    return tp.sign(
        plan,
        roles=roles,
        consent=consent,
        consent_form_version=FORM,
        library=LIB,
        previous=previous,
    )


@pytest.mark.parametrize("current", list(PlanStatus))
@pytest.mark.parametrize("to", list(PlanStatus))
def test_the_transition_table(current, to):
    expected = {
        (PlanStatus.DRAFT, PlanStatus.SIGNED),
        (PlanStatus.DRAFT, PlanStatus.DISCARDED),
        (PlanStatus.SIGNED, PlanStatus.SUPERSEDED),
    }
    assert tp.can_transition(current, to) is ((current, to) in expected)
    assert (to in TRANSITIONS[current]) is ((current, to) in expected)


@pytest.mark.parametrize(
    ("roles", "may_draft", "may_sign"),
    [
        (["prescriber"], True, True),
        (["nurse"], True, False),
        (["therapist"], True, False),
        (["nurse", "prescriber"], True, True),
        (["front_desk"], False, False),
        (["billing"], False, False),
        (["clinic_admin"], False, False),
        (["researcher"], False, False),
        ([], False, False),
    ],
)
def test_who_drafts_and_who_signs(roles, may_draft, may_sign):
    assert tp.can_draft(roles) is may_draft
    plan = draft()
    assert (
        tp.can_sign(plan, roles, consent=CONSENT, consent_form_version=FORM, library=LIB)
        is may_sign
    )
    if not may_sign:
        with pytest.raises(InvalidInput) as caught:
            sign(plan, roles=roles)
        assert caught.value.field == "roles"


def test_a_new_draft_is_version_one():
    plan = draft()
    assert (plan.version, plan.status, plan.supersedes) == (1, PlanStatus.DRAFT, None)
    with pytest.raises(InvalidInput):
        tp.new_draft(CONTENT, roles=["front_desk"])


def test_a_prescriber_signs_and_the_plan_is_frozen():
    signed, superseded = sign(draft())
    assert signed.status is PlanStatus.SIGNED and superseded is None
    assert not tp.can_edit(signed, PRESCRIBER)
    with pytest.raises(InvalidInput) as caught:
        tp.amend(signed, CONTENT, roles=PRESCRIBER)
    assert caught.value.field == "status"
    assert "revise it to make a new version" in caught.value.message
    with pytest.raises(InvalidInput):
        sign(signed)  # signed once


def test_a_draft_is_edited_in_place():
    plan = draft()
    changed = tp.amend(plan, dataclasses.replace(CONTENT, goals=("Sleep",)), roles=["nurse"])
    assert changed.version == plan.version and changed.content.goals == ("Sleep",)
    with pytest.raises(InvalidInput):
        tp.amend(plan, CONTENT, roles=["billing"])


def test_a_change_to_a_signed_plan_is_a_new_version_that_supersedes_it_when_signed():
    first, _ = sign(draft())
    revision = tp.revise(first, roles=["therapist"], latest_version=first.version)
    assert (revision.version, revision.status, revision.supersedes) == (2, PlanStatus.DRAFT, 1)
    assert revision.content == first.content
    # The signed plan stays in force while the revision is a draft.
    assert first.status is PlanStatus.SIGNED
    revision = tp.amend(revision, dataclasses.replace(CONTENT, route="iv"), roles=["therapist"])
    second, superseded = sign(revision, previous=first)
    assert second.status is PlanStatus.SIGNED and second.version == 2
    assert superseded.status is PlanStatus.SUPERSEDED and superseded.version == 1
    # A superseded plan is history: nothing more happens to it.
    assert not tp.can_revise(superseded, PRESCRIBER)
    assert not tp.can_edit(superseded, PRESCRIBER)


def test_a_revision_is_numbered_after_every_version_so_far():
    first, _ = sign(draft())
    # Version 2 was drafted and discarded; the next revision is 3.
    assert tp.revise(first, roles=PRESCRIBER, latest_version=2).version == 3
    with pytest.raises(InvalidInput):
        tp.revise(first, roles=PRESCRIBER, latest_version=0)


def test_only_a_signed_plan_is_revised():
    with pytest.raises(InvalidInput) as caught:
        tp.revise(draft(), roles=PRESCRIBER, latest_version=1)
    assert caught.value.field == "status"


def test_signing_supersedes_only_an_earlier_signed_version():
    first, _ = sign(draft())
    later = Plan(version=2, status=PlanStatus.DRAFT, content=CONTENT, supersedes=1)
    with pytest.raises(InvalidInput):
        sign(later, previous=tp.discard(draft(), roles=PRESCRIBER))
    with pytest.raises(InvalidInput) as caught:
        sign(dataclasses.replace(later, version=1), previous=first)
    assert caught.value.field == "previous"


def test_a_draft_can_be_discarded_and_a_signed_plan_cannot():
    assert tp.discard(draft(), roles=["nurse"]).status is PlanStatus.DISCARDED
    signed, _ = sign(draft())
    with pytest.raises(InvalidInput):
        tp.discard(signed, roles=PRESCRIBER)


@pytest.mark.parametrize(
    ("consent", "fragment"),
    [
        (None, "must be recorded first"),
        (Consent(FORM, given=False), "must be recorded first"),
        (Consent(FORM, withdrawn=True), "withdrawn"),
        (Consent("2026-03"), "earlier version of the consent form"),
    ],
)
def test_signing_needs_consent_to_the_current_form_version(consent, fragment):
    plan = draft()
    assert not tp.can_sign(
        plan, PRESCRIBER, consent=consent, consent_form_version=FORM, library=LIB
    )
    with pytest.raises(InvalidInput) as caught:
        sign(plan, consent=consent)
    assert caught.value.field == "consent"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"route": "rectal"}, ["route"]),
        ({"program": "weekend"}, ["program"]),
        ({"sessions_per_week": None}, ["sessions_per_week"]),
        ({"sessions_per_week": Decimal(4)}, ["sessions_per_week"]),
        ({"planned_dosing_sessions": None}, ["planned_dosing_sessions"]),
        ({"planned_dosing_sessions": 0}, ["planned_dosing_sessions"]),
        ({"starting_dose": None}, ["starting_dose"]),
        ({"modalities": ()}, ["modalities"]),
        ({"modalities": ("reiki",)}, ["modalities"]),
        ({"goals": ()}, ["goals"]),
        ({"goals": ("  ",)}, ["goals"]),
        ({"library_version": "v0"}, ["library_version"]),
        ({"route": "im"}, ["starting_dose"]),  # the dose was calculated for IV
        (
            {"goals": (), "modalities": (), "planned_dosing_sessions": None},
            ["planned_dosing_sessions", "modalities", "goals"],
        ),
    ],
)
def test_an_incomplete_plan_lists_every_problem(changes, fields):
    with pytest.raises(InvalidInputs) as caught:
        sign(draft(**changes))
    assert [error.field for error in caught.value.errors] == fields


def test_a_dose_outside_the_range_signs_only_with_a_co_signed_override():
    a = Signer(1, frozenset({"prescriber"}))
    b = Signer(2, frozenset({"prescriber"}))
    reason = "Partial response at 1 mg/kg; tolerated well over four sessions."
    overridden = starting(mg="84", override=DoseOverride(a, reason, b))
    signed, _ = sign(draft(starting_dose=overridden))
    assert signed.status is PlanStatus.SIGNED


def test_a_plan_whose_dose_left_the_range_cannot_be_signed():
    # Decided inside the range, then the clinic narrowed the range before signing.
    narrower = protocols.library("v1", {"routes": {"iv": {"max": "0.75"}}})
    plan = draft(starting_dose=starting(mg="70"))
    with pytest.raises(InvalidInputs) as caught:
        tp.sign(
            plan, roles=PRESCRIBER, consent=CONSENT, consent_form_version=FORM, library=narrower
        )
    assert [error.field for error in caught.value.errors] == ["starting_dose"]
