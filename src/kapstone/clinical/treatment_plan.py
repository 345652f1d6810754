"""Treatment plans: drafted by a clinician, signed by a prescriber, then frozen.

    plan = treatment_plan.new_draft(content, roles=user_roles)
    plan = treatment_plan.amend(plan, new_content, roles=user_roles)        # drafts only
    signed, superseded = treatment_plan.sign(plan, roles=..., consent=..., consent_form_version=...,
                                             library=lib, previous=current_signed_plan)
    draft = treatment_plan.revise(signed, roles=..., latest_version=n)      # a change: version n+1

The states and their moves are a table (``TRANSITIONS``). A signed plan is never edited: a
change is a new version, a draft copied from it, and signing that version supersedes the one
before. The signed plan stays in force while its revision is a draft.

Signing needs a prescriber, a complete plan (protocol, route, program and frequency, a
starting dose inside the protocol's range or overridden and co-signed, at least one
integration modality, goals, a planned number of dosing sessions) and the patient's informed
consent recorded against the consent form's current version: consent given to an earlier
version of the form does not cover a plan signed after the form changed. Pure Python: the
caller stores each version, records who drafted and signed it and when, and audits.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from kapstone.access.roles import Role
from kapstone.clinical import dose as dosing
from kapstone.clinical.protocols import Library
from kapstone.clinical.treatment_history import PsychotherapyModality
from kapstone.errors import InvalidInput, InvalidInputs

from .gates import Refused, allowed, check_role


class PlanStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"  # frozen
    SUPERSEDED = "superseded"  # a later version was signed
    DISCARDED = "discarded"  # a draft nobody signed

    @property
    def label(self) -> str:
        return self.value.capitalize()


TRANSITIONS: Mapping[PlanStatus, frozenset[PlanStatus]] = MappingProxyType(
    {
        PlanStatus.DRAFT: frozenset({PlanStatus.SIGNED, PlanStatus.DISCARDED}),
        PlanStatus.SIGNED: frozenset({PlanStatus.SUPERSEDED}),
        PlanStatus.SUPERSEDED: frozenset(),
        PlanStatus.DISCARDED: frozenset(),
    }
)

# Any clinician drafts; only a prescriber signs.
DRAFTERS = frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST})
SIGNERS = frozenset({Role.PRESCRIBER})


@dataclass(frozen=True)
class Consent:
    """The patient's informed consent, as recorded against one version of the consent form."""

    form_version: str
    given: bool = True
    withdrawn: bool = False


@dataclass(frozen=True)
class PlanContent:
    library_version: str
    program: str
    route: str
    sessions_per_week: Decimal | None = None
    planned_dosing_sessions: int | None = None
    starting_dose: dosing.DoseDecision | None = None
    titration: str = ""  # the prescriber's titration plan, in words
    modalities: tuple[str, ...] = ()  # chosen by the clinician; suggestions are elsewhere
    goals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    version: int
    status: PlanStatus
    content: PlanContent
    supersedes: int | None = None  # the version this one revises


def check_transition(current: PlanStatus, to: PlanStatus) -> None:
    if to not in TRANSITIONS[current]:
        raise Refused("status", f"a {current.value} plan cannot become {to.value}")


def can_transition(current: PlanStatus, to: PlanStatus) -> bool:
    return allowed(check_transition, current, to)


# ---------------------------------------------------------------------------------------------
# Drafting


def check_can_draft(roles: Iterable[Role | str]) -> None:
    check_role("roles", roles, DRAFTERS, "draft a treatment plan")


def can_draft(roles: Iterable[Role | str]) -> bool:
    return allowed(check_can_draft, roles)


def new_draft(content: PlanContent, *, roles: Iterable[Role | str]) -> Plan:
    check_can_draft(roles)
    return Plan(version=1, status=PlanStatus.DRAFT, content=content)


def check_can_edit(plan: Plan, roles: Iterable[Role | str]) -> None:
    if plan.status is not PlanStatus.DRAFT:
        raise Refused(
            "status",
            f"a {plan.status.value} plan is frozen: revise it to make a new version",
        )
    check_can_draft(roles)


def can_edit(plan: Plan, roles: Iterable[Role | str]) -> bool:
    return allowed(check_can_edit, plan, roles)


def amend(plan: Plan, content: PlanContent, *, roles: Iterable[Role | str]) -> Plan:
    check_can_edit(plan, roles)
    return replace(plan, content=content)


def discard(plan: Plan, *, roles: Iterable[Role | str]) -> Plan:
    check_transition(plan.status, PlanStatus.DISCARDED)
    check_can_draft(roles)
    return replace(plan, status=PlanStatus.DISCARDED)


def check_can_revise(plan: Plan, roles: Iterable[Role | str]) -> None:
    if plan.status is not PlanStatus.SIGNED:
        raise Refused("status", "only the signed plan in force is revised; edit a draft instead")
    check_can_draft(roles)


def can_revise(plan: Plan, roles: Iterable[Role | str]) -> bool:
    return allowed(check_can_revise, plan, roles)


def revise(plan: Plan, *, roles: Iterable[Role | str], latest_version: int) -> Plan:
    """A new draft copied from the signed plan, numbered after every version so far."""
    check_can_revise(plan, roles)
    if latest_version < plan.version:
        raise InvalidInput("latest_version", "must be at least the revised plan's version")
    return Plan(
        version=latest_version + 1,
        status=PlanStatus.DRAFT,
        content=plan.content,
        supersedes=plan.version,
    )


# ---------------------------------------------------------------------------------------------
# Signing


def validate_content(content: PlanContent, library: Library) -> list[InvalidInput]:
    """Everything missing or wrong that stops the plan being signed, all at once."""
    errors: list[InvalidInput] = []
    if content.library_version != library.version:
        errors.append(
            InvalidInput("library_version", "must be the protocol library the plan was drafted on")
        )
        return errors
    rule = program = None
    try:
        rule = library.route(content.route)
    except InvalidInput as error:
        errors.append(error)
    try:
        program = library.program(content.program)
    except InvalidInput as error:
        errors.append(error)
    if content.sessions_per_week is None:
        errors.append(InvalidInput("sessions_per_week", "is required"))
    elif program is not None:
        try:
            program.check_frequency(content.sessions_per_week)
        except InvalidInput as error:
            errors.append(error)
    sessions = content.planned_dosing_sessions
    if type(sessions) is not int or sessions < 1:
        errors.append(
            InvalidInput(
                "planned_dosing_sessions",
                "must be a whole number of 1 or more: a defined course (clinical-facts.md §2.3, "
                "ASA guidance)",
            )
        )
    errors += _dose_errors(content.starting_dose, rule)
    if not content.modalities:
        errors.append(
            InvalidInput("modalities", f"choose at least one: {library.integration.rule}")
        )
    known = {modality.value for modality in PsychotherapyModality}
    for modality in content.modalities:
        if modality not in known:
            errors.append(
                InvalidInput("modalities", "must be integration modalities Kapstone knows")
            )
            break
    if not any(goal.strip() for goal in content.goals):
        errors.append(InvalidInput("goals", "write at least one goal"))
    return errors


def _dose_errors(decision: dosing.DoseDecision | None, rule) -> list[InvalidInput]:
    if decision is None:
        return [InvalidInput("starting_dose", "is required")]
    if rule is None:
        return []
    if decision.dose.route != rule.route.value:
        return [InvalidInput("starting_dose", "was calculated for another route")]
    # The range is checked again: the library may have changed since the dose was decided.
    if dosing.in_range(rule, decision.dose.mg, decision.dose.weight_kg):
        return []
    if decision.override is None or not dosing.can_override_dose(decision.override):
        return [InvalidInput("starting_dose", dosing.out_of_range_message(rule))]
    return []


def check_consent(consent: Consent | None, consent_form_version: str) -> None:
    if consent is None or not consent.given:
        raise Refused("consent", "the patient's informed consent must be recorded first")
    if consent.withdrawn:
        raise Refused("consent", "was withdrawn: record consent again before signing")
    if consent.form_version != consent_form_version:
        raise Refused(
            "consent",
            "was given to an earlier version of the consent form: record consent to the "
            "current version before signing",
        )


def check_can_sign(
    plan: Plan,
    roles: Iterable[Role | str],
    *,
    consent: Consent | None,
    consent_form_version: str,
    library: Library,
) -> None:
    """Refused (the first problem) unless this draft can be signed by this user now; an
    incomplete plan raises InvalidInputs listing every problem."""
    check_transition(plan.status, PlanStatus.SIGNED)
    check_role("roles", roles, SIGNERS, "sign a treatment plan")
    check_consent(consent, consent_form_version)
    if errors := validate_content(plan.content, library):
        raise InvalidInputs(errors)


def can_sign(
    plan: Plan,
    roles: Iterable[Role | str],
    *,
    consent: Consent | None,
    consent_form_version: str,
    library: Library,
) -> bool:
    try:
        check_can_sign(
            plan,
            roles,
            consent=consent,
            consent_form_version=consent_form_version,
            library=library,
        )
    except (InvalidInput, InvalidInputs):
        return False
    return True


def sign(
    plan: Plan,
    *,
    roles: Iterable[Role | str],
    consent: Consent | None,
    consent_form_version: str,
    library: Library,
    previous: Plan | None = None,
) -> tuple[Plan, Plan | None]:
    """The signed plan, and the plan it supersedes (the signed plan in force, if any)."""
    check_can_sign(
        plan, roles, consent=consent, consent_form_version=consent_form_version, library=library
    )
    superseded = None
    if previous is not None:
        check_transition(previous.status, PlanStatus.SUPERSEDED)
        if previous.version >= plan.version:
            raise InvalidInput("previous", "must be an earlier version than the plan signed")
        superseded = replace(previous, status=PlanStatus.SUPERSEDED)
    return replace(plan, status=PlanStatus.SIGNED), superseded
