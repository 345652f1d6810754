"""Every write to integration sessions and process notes goes through these functions.

Each checks who is acting, validates every field at once (naming the field and the rule,
never the value), writes in one transaction and records one audit event naming the fields
set. A process note's text never reaches an audit detail or an error message.
"""

import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from kapstone.access.roles import Permission
from kapstone.audit.recording import record
from kapstone.core.links import derived_token, token_hash
from kapstone.core.models import Organization
from kapstone.core.permissions import check_permission, has_permission
from kapstone.errors import DomainError, InvalidInput, InvalidInputs
from kapstone.integration import modalities
from kapstone.integration import practice as practice_rules
from kapstone.integration.models import (
    MAX_MINUTES,
    IntegrationSession,
    PracticeAssignment,
    PracticeLink,
    PracticeLog,
    ProcessNote,
    ProcessNoteGrant,
)
from kapstone.patients.models import Patient

# A clock a few minutes fast must not turn a real session into an error.
FUTURE_TOLERANCE = timedelta(minutes=5)
NOTE_LENGTH = 20000


def _started_at(value: datetime | None, patient: Patient) -> datetime:
    if value is None:
        raise InvalidInput("started_at", "is required")
    if timezone.is_naive(value):
        raise InvalidInput("started_at", "must include a time zone")
    if value > timezone.now() + FUTURE_TOLERANCE:
        raise InvalidInput("started_at", "cannot be in the future")
    if value.date() < patient.date_of_birth:
        raise InvalidInput("started_at", "cannot be before the patient's date of birth")
    return value


@transaction.atomic
def record_integration_session(
    *,
    by,
    patient: Patient,
    modality: str,
    started_at: datetime | None,
    minutes: int | None,
    details: Mapping[str, Any],
    dosing_session=None,
) -> IntegrationSession:
    """A therapist records an integration session they ran: the modality's structured
    fields, checked against its schema (kapstone.integration.modalities)."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    errors: list[InvalidInput] = []
    clean: dict[str, Any] = {}
    try:
        modalities.modality(modality)
    except InvalidInput as error:
        errors.append(error)
    else:
        try:
            clean = modalities.validate(modality, details)
        except InvalidInputs as invalid:
            errors += invalid.errors
    try:
        started_at = _started_at(started_at, patient)
    except InvalidInput as error:
        errors.append(error)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        errors.append(InvalidInput("minutes", f"must be a whole number from 1 to {MAX_MINUTES}"))
    if dosing_session is not None and dosing_session.patient_id != patient.pk:
        errors.append(InvalidInput("dosing_session", "must be one of this patient's sessions"))
    if errors:
        raise InvalidInputs(errors)
    session = IntegrationSession.objects.create(
        patient=patient,
        therapist=by,
        modality=modality,
        started_at=started_at,
        minutes=minutes,
        dosing_session=dosing_session,
        details=clean,
        recorded_by=by,
    )
    record(
        actor=by,
        action="integration.create",
        target=session,
        patient=patient,
        detail={
            "modality": modality,
            "fields": sorted(clean),
            "dosing_session": dosing_session.pk if dosing_session else None,
        },
    )
    return session


@transaction.atomic
def write_process_note(*, by, session: IntegrationSession, text: str) -> ProcessNote:
    """The therapist's process note: readable by its author and by those the author
    grants, and by nobody else, whatever their role."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    text = (text or "").strip()
    if not text:
        raise InvalidInputs([InvalidInput("text", "is required")])
    if len(text) > NOTE_LENGTH:
        raise InvalidInputs([InvalidInput("text", f"must be at most {NOTE_LENGTH} characters")])
    note = ProcessNote.objects.create(session=session, author=by, text=text)
    record(
        actor=by,
        action="process_note.create",
        target=note,
        patient=session.patient,
        detail={"session": session.pk, "fields": ["text"]},
    )
    return note


@transaction.atomic
def grant_process_note(*, by, note: ProcessNote, grantee) -> ProcessNoteGrant:
    """The author lets a named clinician read one note."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    errors = []
    if note.author_id != by.pk:
        # Said the same way whether or not the note exists for this person.
        raise InvalidInputs([InvalidInput("note", "can be shared only by its author")])
    if grantee is None:
        errors.append(InvalidInput("grantee", "is required"))
    elif grantee.pk == by.pk:
        errors.append(InvalidInput("grantee", "must be someone other than the author"))
    elif not grantee.is_active or not has_permission(grantee, Permission.PATIENT_VIEW_CLINICAL):
        errors.append(InvalidInput("grantee", "must be a clinician who can read the record"))
    elif ProcessNoteGrant.objects.filter(
        note=note, grantee=grantee, revoked_at__isnull=True
    ).exists():
        errors.append(InvalidInput("grantee", "can already read this note"))
    if errors:
        raise InvalidInputs(errors)
    grant = ProcessNoteGrant.objects.create(note=note, grantee=grantee, granted_by=by)
    session = note.session
    record(
        actor=by,
        action="process_note.grant",
        target=note,
        patient=session.patient,
        detail={"session": session.pk, "grantee": grantee.pk},
    )
    return grant


@transaction.atomic
def revoke_process_note_grant(*, by, grant: ProcessNoteGrant) -> ProcessNoteGrant:
    """The author withdraws a grant: the grantee no longer reads the note."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    grant = ProcessNoteGrant.objects.select_for_update().select_related("note").get(pk=grant.pk)
    if grant.note.author_id != by.pk:
        raise InvalidInputs([InvalidInput("note", "can be shared only by its author")])
    if grant.revoked_at is not None:
        raise InvalidInputs([InvalidInput("grantee", "can no longer read this note")])
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    session = grant.note.session
    record(
        actor=by,
        action="process_note.revoke",
        target=grant.note,
        patient=session.patient,
        detail={"session": session.pk, "grantee": grant.grantee_id},
    )
    return grant


# ---------------------------------------------------------------------------------------------
# Home practice: assignments from the library, the patient's link, and practice logs
#
# A practice link is a check-in link's longer-lived sibling: the same HMAC-of-a-nonce token
# (kapstone.core.links keeps only its hash), under its own HMAC label so a
# practice token can never be a check-in token. It opens the patient's practice page until it
# expires or staff issue a new one, which closes the old.

MAX_PRACTICE_LINK_DAYS = practice_rules.MAX_LINK_DAYS


class PracticeLinkUnavailable(DomainError):
    """Unknown, replaced or expired: the patient's page says the same for each."""

    def __init__(self):
        super().__init__("this link is no longer open")


LINK_DAYS_SETTING = "home_practice.link_days"


def practice_link_days() -> int:
    """The clinic's practice-link lifetime (``[home_practice] link_days`` in its settings;
    shipped as 30: long enough to log a month's practice from one link). A value that is not
    a whole number of days from 1 to the most is refused naming the setting, never guessed."""
    config = Organization.current().config
    raw = config.raw["home_practice"]["link_days"]
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidInput(LINK_DAYS_SETTING, _LINK_DAYS_RULE)
    days = config.practice_link_days
    if not 1 <= days <= MAX_PRACTICE_LINK_DAYS:
        raise InvalidInput(LINK_DAYS_SETTING, _LINK_DAYS_RULE)
    return days


_LINK_DAYS_RULE = f"must be a whole number of days from 1 to {MAX_PRACTICE_LINK_DAYS}"


def practice_token(link: PracticeLink) -> str:
    """The token in a practice link, derived again from its nonce (for the e-mail)."""
    return _practice_token_for(link.nonce)


def _practice_token_for(nonce: str) -> str:
    return derived_token("practice", nonce)


def _today() -> date:
    return timezone.localdate()


@transaction.atomic
def assign_practice(
    *,
    by,
    patient: Patient,
    practice: str,
    frequency: str | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    note: str = "",
) -> PracticeAssignment:
    """A clinician assigns a practice from the library, at its default frequency unless
    another is chosen. One active assignment per practice and patient."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    errors: list[InvalidInput] = []
    chosen = None
    try:
        chosen = practice_rules.get(practice)
    except InvalidInput as error:
        errors.append(error)
    frequency = frequency or (chosen.frequency if chosen else "")
    try:
        practice_rules.check_frequency(frequency)
    except InvalidInput as error:
        errors.append(error)
    starts_on = starts_on or _today()
    if starts_on < patient.date_of_birth:
        errors.append(InvalidInput("starts_on", "cannot be before the patient's date of birth"))
    if ends_on is not None and ends_on < starts_on:
        errors.append(InvalidInput("ends_on", "cannot be before the start"))
    note = (note or "").strip()
    if len(note) > practice_rules.NOTE_LENGTH:
        errors.append(
            InvalidInput("note", f"must be at most {practice_rules.NOTE_LENGTH} characters")
        )
    if (
        chosen
        and PracticeAssignment.objects.filter(
            patient=patient, practice=chosen.id, active=True
        ).exists()
    ):
        errors.append(InvalidInput("practice", "is already assigned to this patient"))
    if errors:
        raise InvalidInputs(errors)
    assignment = PracticeAssignment.objects.create(
        patient=patient,
        practice=chosen.id,
        frequency=frequency,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        assigned_by=by,
    )
    record(
        actor=by,
        action="practice.assign",
        target=assignment,
        patient=patient,
        detail={
            "practice": chosen.id,
            "frequency": frequency,
            "fields": sorted(
                name for name, value in (("ends_on", ends_on), ("note", note)) if value
            ),
        },
    )
    return assignment


@transaction.atomic
def end_practice(*, by, assignment: PracticeAssignment) -> PracticeAssignment:
    """Stop an assignment today: it leaves the patient's page; its logs stay."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    assignment = PracticeAssignment.objects.select_for_update().get(pk=assignment.pk)
    if not assignment.active:
        raise InvalidInputs([InvalidInput("assignment", "has already ended")])
    today = _today()
    assignment.active = False
    if assignment.ends_on is None or assignment.ends_on > today:
        assignment.ends_on = max(today, assignment.starts_on)
    assignment.save(update_fields=["active", "ends_on"])
    record(
        actor=by,
        action="practice.end",
        target=assignment,
        patient=assignment.patient,
        detail={"practice": assignment.practice},
    )
    return assignment


@transaction.atomic
def issue_practice_link(
    *, by, patient: Patient, email: bool = False, days: int | None = None
) -> tuple[PracticeLink, str]:
    """A new practice link for the patient, closing any earlier one. Returns the link and its
    token: shown to staff once, e-mailed when asked; only the token's hash is kept."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    if days is None:
        try:
            days = practice_link_days()
        except InvalidInput as error:
            raise InvalidInputs([error]) from None
    errors = []
    if (
        not isinstance(days, int)
        or isinstance(days, bool)
        or not 1 <= days <= MAX_PRACTICE_LINK_DAYS
    ):
        errors.append(
            InvalidInput("days", f"must be a whole number from 1 to {MAX_PRACTICE_LINK_DAYS}")
        )
    if email and not patient.email:
        errors.append(InvalidInput("email", "the patient has no e-mail address on file"))
    if errors:
        raise InvalidInputs(errors)
    # Two links issued at once for one patient must not both stay open.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    now = timezone.now()
    replaced = PracticeLink.objects.filter(patient=patient, revoked_at__isnull=True).update(
        revoked_at=now
    )
    nonce = secrets.token_hex(16)
    token = _practice_token_for(nonce)
    link = PracticeLink.objects.create(
        patient=patient,
        nonce=nonce,
        token_hash=token_hash(token),
        created_by=by,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    record(
        actor=by,
        action="practice_link.issue",
        target=link,
        patient=patient,
        detail={"days": days, "email": bool(email), "replaced": replaced},
    )
    if email:
        from kapstone.integration import tasks

        transaction.on_commit(lambda: tasks.email_practice_link(link.pk))
    return link, token


@transaction.atomic
def show_practice_link(*, by, link: PracticeLink) -> str:
    """The token of a link just made, once: a later showing is refused."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    link = PracticeLink.objects.select_for_update().get(pk=link.pk)
    if link.shown_at is not None or link.revoked_at is not None:
        raise InvalidInputs([InvalidInput("link", "has already been shown; issue a new one")])
    link.shown_at = timezone.now()
    link.save(update_fields=["shown_at"])
    record(actor=by, action="practice_link.show", target=link, patient=link.patient)
    return practice_token(link)


def open_practice_link(token: str, *, now: datetime | None = None) -> PracticeLink:
    """The open practice link behind a token, or PracticeLinkUnavailable."""
    now = now or timezone.now()
    link = (
        PracticeLink.objects.select_related("patient").filter(token_hash=token_hash(token)).first()
    )
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise PracticeLinkUnavailable()
    return link


def _log(
    *,
    assignment: PracticeAssignment,
    done_on: date | None,
    minutes,
    rating,
    note: str,
    link: PracticeLink | None,
    by,
) -> PracticeLog:
    note = (note or "").strip()
    practice_rules.check_log(
        done_on=done_on,
        minutes=minutes,
        rating=rating,
        note=note,
        today=_today(),
        starts_on=assignment.starts_on,
        ends_on=assignment.ends_on,
    )
    log = PracticeLog.objects.create(
        assignment=assignment,
        done_on=done_on,
        minutes=minutes,
        rating=rating,
        note=note,
        link=link,
        logged_by=by,
    )
    record(
        actor=by,
        action="practice.log",
        target=log,
        patient=assignment.patient,
        detail={
            "assignment": assignment.pk,
            "practice": assignment.practice,
            "via": "link" if link else "staff",
            "fields": sorted(
                name
                for name, value in (("rating", rating), ("note", note))
                if value is not None and value != ""
            ),
        },
    )
    return log


@transaction.atomic
def log_practice_by_link(
    *, token: str, assignment_id: int, minutes, rating=None, note: str = ""
) -> PracticeLog:
    """The patient logs today's practice from their link. No actor: the link's holder."""
    link = open_practice_link(token)
    assignment = PracticeAssignment.objects.filter(
        pk=assignment_id, patient_id=link.patient_id, active=True
    ).first()
    if assignment is None:
        raise InvalidInputs([InvalidInput("assignment", "is not one of this link's practices")])
    return _log(
        assignment=assignment,
        done_on=_today(),
        minutes=minutes,
        rating=rating,
        note=note,
        link=link,
        by=None,
    )


@transaction.atomic
def log_practice(
    *,
    by,
    assignment: PracticeAssignment,
    done_on: date | None,
    minutes,
    rating=None,
    note: str = "",
) -> PracticeLog:
    """Staff log practice the patient reports (by phone, at a session)."""
    check_permission(by, Permission.INTEGRATION_RECORD)
    if by is None:
        raise InvalidInputs([InvalidInput("by", "is required")])
    return _log(
        assignment=assignment,
        done_on=done_on,
        minutes=minutes,
        rating=rating,
        note=note,
        link=None,
        by=by,
    )
