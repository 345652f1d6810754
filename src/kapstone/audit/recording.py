"""Writing the audit trail.

``record`` joins the caller's transaction: the event is written if and only if the change it
describes is. Reads are recorded per page or answer, naming every record shown: a chart is
one event naming its patient, a list page one event listing the patients on it (in its
detail, under the hash, and one row each in AuditEventPatient for lookups by patient).
Never per SQL query.

Appending runs on every audited request while the chain head is locked, so it is written in
plain SQL rather than through the ORM's query building, and the lock is held for as short a
time as possible. On PostgreSQL an event is one statement: it moves the head on, computes
the event's hash from the previous one with the database's own SHA-256 (Python supplies the
canonical form around the link, ``chain.canonical_around_link``), and inserts the event and
the patients a list showed. The lock then lasts one statement, with no round trip to the
web server inside it, and a read needs no transaction of its own. Elsewhere (SQLite) Python
reads the head, hashes and writes, inside the caller's transaction or one of its own.
"""

from collections.abc import Iterable
from datetime import UTC

from django.db import connections, router, transaction
from django.utils import timezone

from kapstone.audit import chain
from kapstone.audit.context import origin
from kapstone.audit.models import AuditChainHead, AuditEvent, AuditEventPatient
from kapstone.core.prepared import run_written

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


_EVENT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
# What the chain head gives an event as it is appended; Python gives the rest.
_LINK_FIELDS = ("seq", "prev_hash", "hash")
_GIVEN_FIELDS = [f for f in _EVENT_FIELDS if f.name not in _LINK_FIELDS]


class _Statements:
    """The appending SQL for one kind of database, written once. Names come from the models
    (quoted by the backend); every value is a bound parameter."""

    def __init__(self, connection):
        def q(name: str) -> str:
            return connection.ops.quote_name(name)

        head, seq, hash_, prev, pk = (
            q(n) for n in (AuditChainHead._meta.db_table, "seq", "hash", "prev_hash", "id")
        )
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        self.read_head = f"SELECT {seq}, {hash_} FROM {head} WHERE {pk} = 1{lock}"  # noqa: S608
        self.write_head = f"UPDATE {head} SET {seq} = %s, {hash_} = %s, {prev} = %s WHERE {pk} = 1"  # noqa: S608
        events = q(AuditEvent._meta.db_table)
        columns = ", ".join(q(f.column) for f in _EVENT_FIELDS)
        self.event_row = "(" + ", ".join(["%s"] * len(_EVENT_FIELDS)) + ")"
        self.insert_events = f"INSERT INTO {events} ({columns}) VALUES "  # noqa: S608
        returns = connection.features.can_return_rows_from_bulk_insert
        self.returning = f" RETURNING {q('id')}" if returns else ""
        shown = AuditEventPatient._meta
        table = q(shown.db_table)
        shown_columns = ", ".join(
            q(shown.get_field(name).column) for name in ("event", "patient_id")
        )
        self.insert_shown = f"INSERT INTO {table} ({shown_columns}) VALUES "  # noqa: S608
        self.append_one = None
        if connection.vendor == "postgresql":
            # SET reads the row as it was: the new link is the old hash, and the new hash
            # covers the old hash and the next number. The UPDATE takes the row lock itself.
            # Typed, because the statement is prepared on the server (run_written): its
            # parameters take their types from the text, not from the values.
            values = ", ".join(
                f"head.{q(f.column)}"
                if f.name in _LINK_FIELDS
                else f"CAST(%s AS {f.cast_db_type(connection)})"
                for f in _EVENT_FIELDS
            )
            # Names from the models, every value bound.
            self.append_one = (
                f"WITH head AS (UPDATE {head} SET {seq} = {seq} + 1, {prev} = {hash_}, "  # noqa: S608
                f"{hash_} = encode(sha256(convert_to("
                f"CAST(%s AS text) || {hash_} || CAST(%s AS text) || ({seq} + 1)::text "
                f"|| CAST(%s AS text), 'UTF8')), 'hex') "
                f"WHERE {pk} = 1 RETURNING {seq}, {prev}, {hash_}), "
                f"event AS (INSERT INTO {events} ({columns}) SELECT {values} FROM head "
                f"RETURNING {q('id')}, {seq}, {prev}, {hash_})"
            )
            self.append_shown = (
                f", shown AS (INSERT INTO {table} ({shown_columns}) "  # noqa: S608
                f"SELECT event.{seq}, patient FROM event, unnest(%s::bigint[]) AS patient)"
            )
            self.append_end = f" SELECT {q('id')}, {seq}, {prev}, {hash_} FROM event"  # noqa: S608


_statements: dict[str, _Statements] = {}


def _statements_for(connection) -> _Statements:
    statements = _statements.get(connection.vendor)
    if statements is None:
        statements = _statements[connection.vendor] = _Statements(connection)
    return statements


def _append(rows: list[dict]) -> list[AuditEvent]:
    """Chain and insert rows; the caller holds a transaction. A row's "shown" (patient ids,
    not hashed itself: the detail lists them) becomes AuditEventPatient rows."""
    connection = connections[router.db_for_write(AuditEvent)]
    sql = _statements_for(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql.read_head)
        head = cursor.fetchone()
        if head is None:
            AuditChainHead.objects.create(pk=1, seq=0, hash=chain.GENESIS)
            cursor.execute(sql.read_head)
            head = cursor.fetchone()
        now = timezone.now()
        stamp = _timestamp(now)
        ip_address = origin.get()
        events = []
        shown = []
        seq, prev = head
        for row in rows:
            seq += 1
            shown += [(seq, patient_id) for patient_id in row.pop("shown", ())]
            fields = {
                **row,
                "seq": seq,
                "occurred_at": stamp,
                "ip_address": ip_address,
                "prev_hash": prev,
            }
            fields["hash"] = chain.event_hash(fields)
            prev = fields["hash"]
            events.append(AuditEvent(**{**fields, "occurred_at": now}))
        params = []
        for event in events:
            params += [
                f.get_db_prep_save(getattr(event, f.attname), connection) for f in _EVENT_FIELDS
            ]
        cursor.execute(
            sql.insert_events + ", ".join([sql.event_row] * len(events)) + sql.returning, params
        )
        if sql.returning:
            for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
                event.pk = pk
                event._state.adding = False
        if shown:
            cursor.execute(
                sql.insert_shown + ", ".join(["(%s, %s)"] * len(shown)),
                [value for pair in shown for value in pair],
            )
        cursor.execute(sql.write_head, [seq, prev, events[-1].prev_hash])
    return events


def _append_one(row: dict) -> AuditEvent:
    """Chain and insert one row, in the caller's transaction if there is one."""
    connection = connections[router.db_for_write(AuditEvent)]
    sql = _statements_for(connection)
    if sql.append_one is not None:
        event = _append_linked_by_database(connection, sql, row)
        if event is not None:
            return event
    # No head yet (the trail's first event), or a database that cannot hash.
    with transaction.atomic(using=connection.alias):
        return _append([row])[0]


def _append_linked_by_database(connection, sql: _Statements, row: dict) -> AuditEvent | None:
    """One statement that links, hashes and inserts; None when there is no chain head yet.

    Outside a transaction the statement commits on its own, atomically: nothing else needs
    to happen with it.
    """
    shown = row.get("shown", ())
    now = timezone.now()
    fields = {
        **{name: value for name, value in row.items() if name != "shown"},
        "occurred_at": _timestamp(now),
        "ip_address": origin.get(),
    }
    event = AuditEvent(**{**fields, "occurred_at": now})
    params = list(chain.canonical_around_link(fields))
    params += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _GIVEN_FIELDS]
    statement = sql.append_one
    if shown:
        statement += sql.append_shown
        params.append(list(shown))
    # Planned once per connection (kapstone.core.prepared): two shapes, with and without a
    # list's patients.
    rows = run_written(statement + sql.append_end, params, using=connection.alias)
    if not rows:
        return None
    found = rows[0]
    event.pk, event.seq, event.prev_hash, event.hash = found
    event._state.adding = False
    event._state.db = connection.alias
    return event


def _row(actor_fields: dict, action: str, target, patient, detail) -> dict:
    return {
        **actor_fields,
        **_target_fields(target),
        "action": action,
        "patient_id": _patient_id(target, patient),
        "detail": detail or {},
    }


def record(*, actor, action: str, target=None, patient=None, detail=None) -> AuditEvent:
    return _append_one(_row(_actor_fields(actor), action, target, patient, detail))


def record_reads(*, actor, action: str, targets: Iterable, detail=None) -> AuditEvent | None:
    """One event for records read together (a list page), naming every patient shown.

    The patients' ids go in the event's detail, in the order shown (so the hash covers
    them), and in AuditEventPatient. With one record the event also names it as its target
    and patient, like a chart view. Nothing shown, nothing written.
    """
    targets = list(targets)
    if not targets:
        return None
    patients = []
    for target in targets:
        patient_id = _patient_id(target, None)
        if patient_id is not None and patient_id not in patients:
            patients.append(patient_id)
    only = targets[0] if len(targets) == 1 else None
    row = _row(_actor_fields(actor), action, only, None, {**(detail or {}), "patients": patients})
    row["shown"] = patients
    if only is None:
        row["target_type"] = targets[0]._meta.label_lower
    return _append_one(row)


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
    """Walk the chain, and check that the patients indexed for each event (AuditEventPatient)
    are exactly those its hashed detail lists."""
    head = AuditChainHead.objects.filter(pk=1).first()
    rows = (
        AuditEvent.objects.order_by("seq")
        .values(*chain.HASHED_FIELDS, "hash")
        .iterator(chunk_size=2000)
    )
    shown = _ShownIndex()

    def normalised():
        for row in rows:
            shown.check(row["seq"], row["detail"])
            row["occurred_at"] = _timestamp(row["occurred_at"])
            yield row

    report = chain.verify(
        normalised(), head.seq if head else 0, head.hash if head else chain.GENESIS
    )
    if not report.intact:
        return report
    bad = shown.first_mismatch()
    if bad is not None:
        return chain.ChainReport(
            report.events_checked,
            False,
            bad,
            f"the patients indexed for event {bad} differ from those the event lists",
        )
    return report


class _ShownIndex:
    """Reads AuditEventPatient in event order beside the events, as a merge join."""

    def __init__(self):
        self._rows = iter(
            AuditEventPatient.objects.order_by("event_id", "patient_id")
            .values_list("event_id", "patient_id")
            .iterator(chunk_size=5000)
        )
        self._next = next(self._rows, None)
        self._mismatch = None

    def check(self, seq: int, detail) -> None:
        indexed = []
        while self._next is not None and self._next[0] <= seq:
            if self._next[0] < seq:
                # A row for an event that is not in the trail.
                self._flag(self._next[0])
            else:
                indexed.append(self._next[1])
            self._next = next(self._rows, None)
        listed = detail.get("patients", []) if isinstance(detail, dict) else []
        if sorted(map(str, indexed)) != sorted(map(str, listed)):
            self._flag(seq)

    def _flag(self, seq: int) -> None:
        if self._mismatch is None:
            self._mismatch = seq

    def first_mismatch(self) -> int | None:
        if self._next is not None:
            self._flag(self._next[0])
        return self._mismatch
