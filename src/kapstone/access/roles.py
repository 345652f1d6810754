"""Who may do what in a clinic.

Roles are the jobs people hold in a KAP clinic; permissions are the smallest things the
software lets someone do. Every page and API operation names the one permission it needs,
and a role grants nothing it does not list here: deny by default.

This module is the single place that maps roles to permissions, so a change to who can see
patient data is a change to this file and nothing else. Pure Python: no Django.
"""

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    # Identity and contact details: name, date of birth, contacts, escort.
    PATIENT_VIEW_DEMOGRAPHICS = "patient.view_demographics"
    PATIENT_REGISTER = "patient.register"
    PATIENT_EDIT_DEMOGRAPHICS = "patient.edit_demographics"
    # The clinical record: measurements, allergies, medications, treatment history.
    PATIENT_VIEW_CLINICAL = "patient.view_clinical"
    PATIENT_EDIT_CLINICAL = "patient.edit_clinical"
    # Diagnoses are split out because billing needs them without the rest of the chart.
    PATIENT_VIEW_DIAGNOSES = "patient.view_diagnoses"
    PATIENT_EDIT_DIAGNOSES = "patient.edit_diagnoses"
    # Measurement-based care: entering a clinician-rated or licensed-form questionnaire,
    # sending a check-in link or schedule, and acknowledging a suicide-risk alert.
    ASSESSMENT_RECORD = "assessment.record"
    CHECKIN_SEND = "checkin.send"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    # Eligibility and treatment plans: screening a candidate, drafting a plan (any clinician),
    # and what only a prescriber does: signing a plan, overriding 'not eligible' or a dose
    # outside the protocol's range (the dose override also needs a second prescriber).
    SCREENING_RECORD = "screening.record"
    PLAN_DRAFT = "plan.draft"
    PLAN_SIGN = "plan.sign"
    ELIGIBILITY_OVERRIDE = "eligibility.override"
    # Dosing sessions: running one (checks, administration, vitals, adverse events, discharge)
    # and the prescriber's calls (clearing a held pre-dose check, overriding a refused discharge).
    DOSING_RECORD = "dosing.record"
    DOSING_OVERRIDE = "dosing.override"
    # Integration therapy and home practice; psychotherapy process notes are further limited
    # to their author and those the author grants.
    INTEGRATION_RECORD = "integration.record"
    # The calendar: seeing it, and booking or moving sessions.
    SCHEDULE_VIEW = "schedule.view"
    SCHEDULE_MANAGE = "schedule.manage"
    # Staff licences and certifications.
    CREDENTIALS_VIEW = "credentials.view"
    CREDENTIALS_MANAGE = "credentials.manage"
    # The controlled-substance ledger: reading it, moving stock (receive, administer, waste,
    # transfer, count), and resolving a count discrepancy, which the registrant signs.
    LEDGER_VIEW = "ledger.view"
    LEDGER_RECORD = "ledger.record"
    LEDGER_RECONCILE = "ledger.reconcile"
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    # The clinic's settings (its changes to the shipped defaults and rule files). Changing a
    # clinical section also takes the prescriber role: kapstone.core.clinic_settings.
    SETTINGS_VIEW = "settings.view"
    SETTINGS_MANAGE = "settings.manage"


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    THERAPIST = "therapist"
    FRONT_DESK = "front_desk"
    BILLING = "billing"
    RESEARCHER = "researcher"
    CLINIC_ADMIN = "clinic_admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.PRESCRIBER: "Prescriber (medical director)",
    Role.NURSE: "Nurse",
    Role.THERAPIST: "Therapist",
    Role.FRONT_DESK: "Front desk",
    Role.BILLING: "Billing",
    Role.RESEARCHER: "Researcher",
    Role.CLINIC_ADMIN: "Clinic admin",
}

P = Permission

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRESCRIBER: frozenset(
        {
            P.PATIENT_VIEW_DEMOGRAPHICS,
            P.PATIENT_REGISTER,
            P.PATIENT_EDIT_DEMOGRAPHICS,
            P.PATIENT_VIEW_CLINICAL,
            P.PATIENT_EDIT_CLINICAL,
            P.PATIENT_VIEW_DIAGNOSES,
            P.PATIENT_EDIT_DIAGNOSES,
            P.ASSESSMENT_RECORD,
            P.CHECKIN_SEND,
            P.ALERT_ACKNOWLEDGE,
            P.SCREENING_RECORD,
            P.PLAN_DRAFT,
            P.PLAN_SIGN,
            P.ELIGIBILITY_OVERRIDE,
            P.LEDGER_VIEW,
            P.LEDGER_RECORD,
            P.LEDGER_RECONCILE,
            P.DOSING_RECORD,
            P.DOSING_OVERRIDE,
            P.INTEGRATION_RECORD,
            P.SCHEDULE_VIEW,
            P.SCHEDULE_MANAGE,
            P.CREDENTIALS_VIEW,
            P.SETTINGS_VIEW,
            P.SETTINGS_MANAGE,
        }
    ),
    Role.NURSE: frozenset(
        {
            P.PATIENT_VIEW_DEMOGRAPHICS,
            P.PATIENT_REGISTER,
            P.PATIENT_EDIT_DEMOGRAPHICS,
            P.PATIENT_VIEW_CLINICAL,
            P.PATIENT_EDIT_CLINICAL,
            P.PATIENT_VIEW_DIAGNOSES,
            P.ASSESSMENT_RECORD,
            P.CHECKIN_SEND,
            P.ALERT_ACKNOWLEDGE,
            P.SCREENING_RECORD,
            P.PLAN_DRAFT,
            P.LEDGER_VIEW,
            P.LEDGER_RECORD,
            P.DOSING_RECORD,
            P.SCHEDULE_VIEW,
            P.SCHEDULE_MANAGE,
        }
    ),
    Role.THERAPIST: frozenset(
        {
            P.PATIENT_VIEW_DEMOGRAPHICS,
            P.PATIENT_VIEW_CLINICAL,
            P.PATIENT_EDIT_CLINICAL,
            P.PATIENT_VIEW_DIAGNOSES,
            P.PATIENT_EDIT_DIAGNOSES,
            P.ASSESSMENT_RECORD,
            P.CHECKIN_SEND,
            P.ALERT_ACKNOWLEDGE,
            P.SCREENING_RECORD,
            P.PLAN_DRAFT,
            P.INTEGRATION_RECORD,
            P.SCHEDULE_VIEW,
        }
    ),
    # Front desk sends the questionnaire links patients answer at home; it does not see scores.
    Role.FRONT_DESK: frozenset(
        {
            P.PATIENT_VIEW_DEMOGRAPHICS,
            P.PATIENT_REGISTER,
            P.PATIENT_EDIT_DEMOGRAPHICS,
            P.CHECKIN_SEND,
            P.SCHEDULE_VIEW,
            P.SCHEDULE_MANAGE,
        }
    ),
    Role.BILLING: frozenset({P.PATIENT_VIEW_DEMOGRAPHICS, P.PATIENT_VIEW_DIAGNOSES}),
    # Researchers work only with de-identified data (the research registry); nothing
    # that names a patient is theirs to see.
    Role.RESEARCHER: frozenset(),
    # The admin runs the clinic's accounts and reads the audit trail, which names records
    # by number only; the admin is not a clinician and does not read charts.
    Role.CLINIC_ADMIN: frozenset(
        {
            P.AUDIT_VIEW,
            P.AUDIT_EXPORT,
            P.STAFF_VIEW,
            P.STAFF_MANAGE,
            P.CREDENTIALS_VIEW,
            P.CREDENTIALS_MANAGE,
            P.SETTINGS_VIEW,
            P.SETTINGS_MANAGE,
        }
    ),
}

# Roles that reach clinical records, or grant access to others, sign in with a second factor.
TWO_FACTOR_ROLES = frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST, Role.CLINIC_ADMIN})


def permissions_for(roles: Iterable[Role | str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[Role(role)]
    return frozenset(granted)


def needs_two_factor(roles: Iterable[Role | str]) -> bool:
    return any(Role(role) in TWO_FACTOR_ROLES for role in roles)


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)
