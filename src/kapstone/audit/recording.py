"""Writing the audit trail.

``record`` joins the caller's transaction: the event is written if and only if the change it
describes is. Reads are recorded per record shown (one event per patient on a list page),
never per SQL query.
"""

from collections.abc import Iterable
from datetime import UTC

from django.db import transaction
from django.utils import timezone

from kapstone.audit import chain
from kapstone.audit.context import origin
from kapstone.audit.models import AuditChainHead, AuditEvent

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _timestamp(moment) -> str:
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def _actor_fields(actor) -> dict:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor_username": "", "actor_roles": ""}
    return {
        "actor_id": actor.pk,
        "actor_username": actor.username,
        "actor_roles": ",".join(sorted(role.value for role in actor.roles)),
    }


def _target_fields(target) -> dict:
    if target is None:
        return {"target_type": "", "target_id": ""}
    return {"target_type": target._meta.label_lower, "target_id": str(target.pk)}


def _patient_id(target, patient):
    if patient is not None:
        return patient.pk
    if target is not None and target._meta.label_lower == "patients.patient":
        return target.pk
    return getattr(target, "patient_id", None)


def _append(rows: list[dict]) -> list[AuditEvent]:
    """Chain and insert rows; the caller holds a transaction."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, seq=0, hash=chain.GENESIS)
    now = timezone.now()
    events = []
    seq, prev = head.seq, head.hash
    for row in rows:
        seq += 1
        fields = {
            **row,
            "seq": seq,
            "occurred_at": _timestamp(now),
            "ip_address": origin.get(),
            "prev_hash": prev,
        }
        fields["hash"] = chain.event_hash(fields)
        prev = fields["hash"]
        events.append(AuditEvent(**{**fields, "occurred_at": now}))
    AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return events


def _row(actor_fields: dict, action: str, target, patient, detail) -> dict:
    return {
        **actor_fields,
        **_target_fields(target),
        "action": action,
        "patient_id": _patient_id(target, patient),
        "detail": detail or {},
    }


def record(*, actor, action: str, target=None, patient=None, detail=None) -> AuditEvent:
    with transaction.atomic():
        return _append([_row(_actor_fields(actor), action, target, patient, detail)])[0]


def record_reads(*, actor, action: str, targets: Iterable, detail=None) -> None:
    """One event per record read, appended together."""
    actor_fields = _actor_fields(actor)
    rows = [_row(actor_fields, action, target, None, detail) for target in targets]
    if rows:
        with transaction.atomic():
            _append(rows)


def record_denied(request, permission) -> None:
    """Refused access is recorded too: who tried to open what."""
    match = getattr(request, "resolver_match", None)
    record(
        actor=request.user,
        action="access.denied",
        detail={
            "permission": str(permission),
            "view": match.view_name if match else "",
            "object_id": str(next(iter(match.kwargs.values()), "")) if match else "",
        },
    )


def verify_chain() -> chain.ChainReport:
    head = AuditChainHead.objects.filter(pk=1).first()
    rows = (
        AuditEvent.objects.order_by("seq")
        .values(*chain.HASHED_FIELDS, "hash")
        .iterator(chunk_size=2000)
    )

    def normalised():
        for row in rows:
            row["occurred_at"] = _timestamp(row["occurred_at"])
            yield row

    return chain.verify(normalised(), head.seq if head else 0, head.hash if head else chain.GENESIS)
