"""Every change to the controlled-substance ledger goes through these functions.

Each one checks the actor's permission, validates every field (reporting all problems at
once), writes in one transaction and records one audit event. Stock moves lock the containers
they touch (in id order), then the chain head, so two nurses drawing from one vial at the same
moment are served one after the other and the second sees what the first left.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapstone.access.roles import Permission
from kapstone.audit.recording import record
from kapstone.core.models import Organization, Site
from kapstone.core.permissions import check_permission, has_permission
from kapstone.dosing.models import DosingSession
from kapstone.dosing.rules import can_take_a_dose
from kapstone.errors import FieldErrors, InvalidInput
from kapstone.ledger import chain, rules
from kapstone.ledger.models import (
    Container,
    Count,
    CountLine,
    LedgerChainHead,
    LedgerEntry,
    LossReport,
    Product,
    Receipt,
    Reconciliation,
    StorageLocation,
)
from kapstone.ledger.rules import EntryKind as K

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# A clock a few minutes fast on a tablet is not a future entry.
FUTURE_SLACK = timedelta(minutes=5)


def _text(
    errors: FieldErrors, field: str, value, *, required: bool = True, limit: int = 300
) -> str:
    text = (value or "").strip()
    if required and not text:
        errors.add(field, "is required")
    elif len(text) > limit:
        errors.add(field, f"must be at most {limit} characters")
    return text


def _occurred(errors: FieldErrors, value: datetime | None, field: str = "occurred_at") -> datetime:
    now = timezone.now()
    if value is None:
        return now
    if value > now + FUTURE_SLACK:
        errors.add(field, "cannot be in the future")
    return value


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def hashed_fields(entry: LedgerEntry) -> dict:
    """An entry's fields as the chain hashes them."""
    fields = {name: getattr(entry, name) for name in chain.HASHED_FIELDS}
    fields["occurred_at"] = _timestamp(entry.occurred_at)
    fields["recorded_at"] = _timestamp(entry.recorded_at)
    return fields


def _append(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Chain and insert entries; the caller holds a transaction and the containers' locks."""
    head = LedgerChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = LedgerChainHead.objects.create(pk=1, seq=0, hash=chain.GENESIS)
    now = timezone.now()
    seq, prev = head.seq, head.hash
    for entry in entries:
        seq += 1
        entry.seq = seq
        entry.recorded_at = now
        entry.prev_hash = prev
        entry.hash = chain.entry_hash(hashed_fields(entry))
        prev = entry.hash
    LedgerEntry.objects.bulk_create(entries)
    LedgerChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return entries


def _lock(container: Container) -> Container:
    """The container as it is now, locked until the transaction ends."""
    return (
        Container.objects.select_for_update(of=("self",))
        .select_related("product", "location")
        .get(pk=container.pk)
    )


def _licensed(user) -> bool:
    return bool(user) and user.is_active and has_permission(user, Permission.LEDGER_RECORD)


def _witness(errors: FieldErrors, by, witness, password: str) -> None:
    """The second signature: a different licensed member of staff, who re-enters their
    password."""
    if witness is None:
        errors.add("witness", "is required: two members of staff sign this entry")
        return
    if witness.pk == by.pk:
        errors.add("witness", "must be a different member of staff from the recorder")
        return
    if not _licensed(witness):
        errors.add("witness", "must be licensed to handle controlled substances")
        return
    if not password or not witness.check_password(password):
        errors.add("witness_password", "does not match the witness's password")


def _quantity(errors: FieldErrors, value, unit: str, container: Container, field="quantity"):
    return errors.check(rules.parse_quantity, field, value, unit, container.product.mg_per_ml)


def _entry(by, container: Container, kind: K, quantity: Decimal, delta: Decimal, **fields):
    balance = rules.next_balance(container.balance_mg, delta)
    entry = LedgerEntry(
        kind=kind.value,
        container=container,
        location=container.location,
        quantity_mg=quantity,
        delta_mg=delta,
        balance_after_mg=balance,
        recorded_by=by,
        **fields,
    )
    container.balance_mg = balance
    if rules.KIND_RULES[kind].opens_container and container.opened_at is None:
        container.opened_at = entry.occurred_at
    return entry


def _save_container(container: Container) -> None:
    container.save(update_fields=["balance_mg", "location", "opened_at"])


def _draw(
    *,
    by,
    container: Container,
    kind: K,
    quantity,
    unit: str,
    occurred_at: datetime | None,
    errors: FieldErrors,
    **fields,
) -> LedgerEntry:
    """Take a quantity from one container: the shared path of every removing entry."""
    mg = _quantity(errors, quantity, unit, container)
    occurred = _occurred(errors, occurred_at)
    errors.raise_any()
    if mg > container.balance_mg:
        raise InvalidInput("quantity", "is more than the container holds")
    entry = _entry(by, container, kind, mg, -mg, occurred_at=occurred, **fields)
    _save_container(container)
    _append([entry])
    return entry


# Places and stock


@transaction.atomic
def add_location(*, by, site: Site, name: str, kind: str) -> StorageLocation:
    check_permission(by, Permission.LEDGER_RECORD)
    errors = FieldErrors()
    name = _text(errors, "name", name, limit=100)
    if kind not in StorageLocation.Kind.values:
        errors.add("kind", "is not one of the allowed choices")
    if name and StorageLocation.objects.filter(site=site, name__iexact=name).exists():
        errors.add("name", "is already a storage location at this site")
    errors.raise_any()
    location = StorageLocation.objects.create(site=site, name=name, kind=kind)
    record(actor=by, action="ledger.location.create", target=location)
    return location


def _product(errors: FieldErrors, *, ndc, name, substance, form, mg_per_ml, ml_per_container):
    ndc = errors.check(rules.check_ndc, "ndc", ndc)
    name = _text(errors, "product_name", name, limit=200)
    if substance not in Product.Substance.values:
        errors.add("substance", "is not one of the allowed choices")
    if form not in Product.Form.values:
        errors.add("form", "is not one of the allowed choices")
    strength = errors.check(rules.parse_quantity, "mg_per_ml", mg_per_ml, "mg", Decimal(1))
    volume = errors.check(
        rules.parse_quantity, "ml_per_container", ml_per_container, "mg", Decimal(1)
    )
    if errors.errors:
        return None
    mg = errors.check(rules.mg_for_volume, strength, volume)
    if mg is None:
        return None
    existing = Product.objects.filter(ndc=ndc).first()
    if existing is None:
        return Product(
            ndc=ndc,
            name=name,
            substance=substance,
            form=form,
            mg_per_ml=strength,
            ml_per_container=volume,
            mg_per_container=mg,
        )
    same = (existing.substance, existing.form, existing.mg_per_ml, existing.ml_per_container)
    if same != (substance, form, strength, volume):
        errors.add("ndc", "is already recorded with a different substance, form or strength")
    return existing


@transaction.atomic
def receive(
    *,
    by,
    location: StorageLocation,
    supplier_name: str,
    supplier_address: str,
    supplier_dea_number: str,
    invoice_number: str,
    received_on: date,
    ndc: str,
    product_name: str,
    substance: str,
    form: str,
    mg_per_ml,
    ml_per_container,
    lot_number: str,
    expires_on: date,
    containers: int,
) -> Receipt:
    """Stock in from a supplier: one container row and one receipt entry per container."""
    check_permission(by, Permission.LEDGER_RECORD)
    errors = FieldErrors()
    supplier_name = _text(errors, "supplier_name", supplier_name, limit=200)
    supplier_address = _text(errors, "supplier_address", supplier_address)
    dea = errors.check(rules.check_dea_number, "supplier_dea_number", supplier_dea_number)
    invoice_number = _text(errors, "invoice_number", invoice_number, limit=60)
    lot_number = _text(errors, "lot_number", lot_number, limit=40)
    today = timezone.localdate()
    if received_on is None:
        errors.add("received_on", "is required")
    elif received_on > today:
        errors.add("received_on", "cannot be in the future")
    if expires_on is None:
        errors.add("expires_on", "is required")
    elif received_on is not None and expires_on < received_on:
        errors.add("expires_on", "is before the date received: expired stock is not received")
    if containers is None or not 1 <= int(containers) <= 500:
        errors.add("containers", "must be a whole number from 1 to 500")
    if location is None or not location.active:
        errors.add("location", "must be an active storage location")
    product = _product(
        errors,
        ndc=ndc,
        name=product_name,
        substance=substance,
        form=form,
        mg_per_ml=mg_per_ml,
        ml_per_container=ml_per_container,
    )
    errors.raise_any()
    if product.pk is None:
        product.save()
    receipt = Receipt.objects.create(
        location=location,
        product=product,
        supplier_name=supplier_name,
        supplier_address=supplier_address,
        supplier_dea_number=dea,
        invoice_number=invoice_number,
        received_on=received_on,
        lot_number=lot_number,
        expires_on=expires_on,
        containers=int(containers),
        recorded_by=by,
    )
    made = Container.objects.bulk_create(
        Container(
            receipt=receipt,
            product=product,
            label=f"R{receipt.pk:05d}-{number:02d}",
            lot_number=lot_number,
            expires_on=expires_on,
            location=location,
            initial_mg=product.mg_per_container,
            balance_mg=Decimal(0),
        )
        for number in range(1, int(containers) + 1)
    )
    # bulk_create gives ids on PostgreSQL and SQLite alike; read them back to be sure of order.
    made = list(Container.objects.filter(receipt=receipt).select_related("product", "location"))
    # The entry carries the actual date of receipt (21 CFR 1304.21): now, or midday of the day
    # the stock arrived when it is recorded later.
    occurred = timezone.now()
    if received_on != timezone.localdate():
        occurred = timezone.make_aware(datetime.combine(received_on, time(12, 0)))
    entries = []
    for container in made:
        mg = product.mg_per_container
        entries.append(_entry(by, container, K.RECEIVE, mg, mg, occurred_at=occurred))
    Container.objects.filter(receipt=receipt).update(balance_mg=product.mg_per_container)
    _append(entries)
    record(
        actor=by,
        action="ledger.receive",
        target=receipt,
        detail={"containers": len(made), "product": product.pk, "location": location.pk},
    )
    return receipt


# Stock out


@transaction.atomic
def administer(
    *,
    by,
    container: Container,
    session: DosingSession | None,
    quantity,
    unit: str = "mg",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """A dose drawn for a patient's supervised dosing session."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    errors.check(rules.check_in_date, container.expires_on, timezone.localdate())
    if session is None:
        errors.add("session", "is required: every administration belongs to a dosing session")
    else:
        session = DosingSession.objects.select_for_update().get(pk=session.pk)
        if not can_take_a_dose(session.status):
            errors.add(
                "session",
                f"is {session.status_label.lower()}; a dose is drawn only once the patient is "
                "cleared for dosing",
            )
        elif session.site_id != container.location.site_id:
            errors.add("session", "is at another site than the container")
    entry = _draw(
        by=by,
        container=container,
        kind=K.ADMINISTER,
        quantity=quantity,
        unit=unit,
        occurred_at=occurred_at,
        errors=errors,
        patient_id=session.patient_id if session else None,
        session=session,
    )
    record(
        actor=by,
        action="ledger.administer",
        target=entry,
        detail={"container": container.pk, "session": session.pk},
    )
    return entry


@transaction.atomic
def waste(
    *,
    by,
    container: Container,
    quantity,
    witness,
    witness_password: str,
    unit: str = "mg",
    reason: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Residue left after a dose, discarded in front of a second member of staff."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    reason = _text(errors, "reason", reason, required=False)
    _witness(errors, by, witness, witness_password)
    entry = _draw(
        by=by,
        container=container,
        kind=K.WASTE,
        quantity=quantity,
        unit=unit,
        occurred_at=occurred_at,
        errors=errors,
        second_signer=witness,
        reason=reason,
    )
    record(actor=by, action="ledger.waste", target=entry, detail={"container": container.pk})
    return entry


@transaction.atomic
def destroy(
    *,
    by,
    container: Container,
    quantity,
    method: str,
    place: str,
    witness,
    witness_password: str,
    unit: str = "mg",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Stock destroyed on site to a non-retrievable state (the data of DEA Form 41)."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    method = _text(errors, "method", method, limit=200)
    place = _text(errors, "place", place, limit=200)
    _witness(errors, by, witness, witness_password)
    entry = _draw(
        by=by,
        container=container,
        kind=K.DESTROY,
        quantity=quantity,
        unit=unit,
        occurred_at=occurred_at,
        errors=errors,
        second_signer=witness,
        method=method,
        place=place,
    )
    record(actor=by, action="ledger.destroy", target=entry, detail={"container": container.pk})
    return entry


@transaction.atomic
def return_stock(
    *,
    by,
    container: Container,
    quantity,
    recipient_name: str,
    recipient_address: str,
    recipient_dea_number: str,
    witness,
    witness_password: str,
    unit: str = "mg",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Stock sent to a reverse distributor or back to the supplier."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    name = _text(errors, "recipient_name", recipient_name, limit=200)
    address = _text(errors, "recipient_address", recipient_address)
    dea = errors.check(rules.check_dea_number, "recipient_dea_number", recipient_dea_number)
    _witness(errors, by, witness, witness_password)
    entry = _draw(
        by=by,
        container=container,
        kind=K.RETURN,
        quantity=quantity,
        unit=unit,
        occurred_at=occurred_at,
        errors=errors,
        second_signer=witness,
        counterparty_name=name,
        counterparty_address=address,
        counterparty_dea=dea or "",
    )
    record(actor=by, action="ledger.return", target=entry, detail={"container": container.pk})
    return entry


@transaction.atomic
def transfer(
    *,
    by,
    container: Container,
    to_location: StorageLocation,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """A container moved, whole, to another storage location at the same site."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    reason = _text(errors, "reason", reason, required=False)
    occurred = _occurred(errors, occurred_at)
    if to_location is None or not to_location.active:
        errors.add("to_location", "must be an active storage location")
    elif to_location.pk == container.location_id:
        errors.add("to_location", "is where the container already is")
    elif to_location.site_id != container.location.site_id:
        errors.add("to_location", "must be at the same site (each site keeps its own records)")
    if container.balance_mg == 0:
        errors.add("container", "is empty; there is nothing to transfer")
    errors.raise_any()
    entry = _entry(
        by,
        container,
        K.TRANSFER,
        container.balance_mg,
        Decimal(0),
        occurred_at=occurred,
        to_location=to_location,
        reason=reason,
    )
    container.location = to_location
    _save_container(container)
    _append([entry])
    record(
        actor=by,
        action="ledger.transfer",
        target=entry,
        detail={"container": container.pk, "to_location": to_location.pk},
    )
    return entry


@transaction.atomic
def report_loss(
    *,
    by,
    container: Container,
    kind: str,
    quantity,
    discovered_at: datetime | None,
    description: str,
    unit: str = "mg",
) -> LossReport:
    """A theft or significant loss: the stock leaves the ledger, and the report starts the
    clock on the DEA notice (one business day) and Form 106 (45 days)."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    if kind not in LossReport.Kind.values:
        errors.add("kind", "is not one of the allowed choices")
    description = _text(errors, "description", description, limit=1000)
    if discovered_at is None:
        errors.add("discovered_at", "is required")
    else:
        _occurred(errors, discovered_at, "discovered_at")
    mg = _quantity(errors, quantity, unit, container)
    errors.raise_any()
    if mg > container.balance_mg:
        raise InvalidInput("quantity", "is more than the container holds")
    discovered_on = timezone.localdate(discovered_at)
    # Weekends are skipped, and the days the clinic lists as closed (ledger.closed_days).
    due = rules.loss_deadlines(discovered_on, Organization.current().config.ledger_closed_days)
    report = LossReport.objects.create(
        site_id=container.location.site_id,
        kind=kind,
        discovered_at=discovered_at,
        description=description,
        notice_due=due.notice_due,
        form_106_due=due.form_106_due,
        reported_by=by,
    )
    entry = _entry(
        by,
        container,
        K.LOSS,
        mg,
        -mg,
        occurred_at=discovered_at,
        loss_report=report,
        reason=LossReport.Kind(kind).label,
    )
    _save_container(container)
    _append([entry])
    record(
        actor=by,
        action="ledger.loss",
        target=report,
        detail={"container": container.pk, "entry": entry.pk, "kind": kind},
    )
    return report


@transaction.atomic
def update_loss_report(
    *,
    by,
    report: LossReport,
    notice_sent_on: date | None = None,
    form_106_filed_on: date | None = None,
    form_106_reference: str = "",
) -> list[str]:
    """Record that the DEA notice was sent and the Form 106 filed. Returns the fields set."""
    check_permission(by, Permission.LEDGER_RECORD)
    report = LossReport.objects.select_for_update().get(pk=report.pk)
    errors = FieldErrors()
    today = timezone.localdate()
    discovered_on = timezone.localdate(report.discovered_at)
    reference = _text(errors, "form_106_reference", form_106_reference, required=False, limit=60)
    for field, value in (
        ("notice_sent_on", notice_sent_on),
        ("form_106_filed_on", form_106_filed_on),
    ):
        if value is None:
            continue
        if value > today:
            errors.add(field, "cannot be in the future")
        elif value < discovered_on:
            errors.add(field, "cannot be before the loss was discovered")
        elif getattr(report, field) is not None:
            errors.add(field, "is already recorded")
    if form_106_filed_on is not None and not reference:
        errors.add("form_106_reference", "is required when the Form 106 is filed")
    if notice_sent_on is None and form_106_filed_on is None:
        errors.add("notice_sent_on", "enter the date the notice was sent or the form filed")
    errors.raise_any()
    changed = []
    if notice_sent_on is not None:
        report.notice_sent_on = notice_sent_on
        changed.append("notice_sent_on")
    if form_106_filed_on is not None:
        report.form_106_filed_on = form_106_filed_on
        report.form_106_reference = reference
        changed += ["form_106_filed_on", "form_106_reference"]
    report.save(update_fields=changed)
    record(actor=by, action="ledger.loss.update", target=report, detail={"fields": changed})
    return changed


@transaction.atomic
def adjust(
    *,
    by,
    container: Container,
    direction: str,
    quantity,
    reason: str,
    unit: str = "mg",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """A change with a reason that no other kind of entry describes (overfill found when a
    vial is emptied, a count settled)."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(container)
    errors = FieldErrors()
    reason = _text(errors, "reason", reason)
    if direction not in ("add", "remove"):
        errors.add("direction", "must be add or remove")
    mg = _quantity(errors, quantity, unit, container)
    occurred = _occurred(errors, occurred_at)
    errors.raise_any()
    delta = rules.delta_for(K.ADJUST, mg, removes=direction == "remove")
    entry = _entry(by, container, K.ADJUST, mg, delta, occurred_at=occurred, reason=reason)
    _save_container(container)
    _append([entry])
    record(
        actor=by,
        action="ledger.adjust",
        target=entry,
        detail={"container": container.pk, "direction": direction},
    )
    return entry


@transaction.atomic
def reverse(*, by, entry: LedgerEntry, reason: str) -> LedgerEntry:
    """Undo an entry's effect with a new entry that names it; the original stays as written."""
    check_permission(by, Permission.LEDGER_RECORD)
    container = _lock(entry.container)
    errors = FieldErrors()
    reason = _text(errors, "reason", reason)
    original = LedgerEntry.objects.select_related("location").get(pk=entry.pk)
    errors.check(rules.check_reversible, original.kind, hasattr(original, "reversed_by"))
    errors.raise_any()
    fields = {"occurred_at": timezone.now(), "reversal_of": original, "reason": reason}
    if original.kind == K.TRANSFER:
        if container.location_id != original.to_location_id:
            raise InvalidInput("entry", "the container has moved since; transfer it instead")
        if container.balance_mg == 0:
            raise InvalidInput("entry", "the container is empty; there is nothing to move back")
        reversal = _entry(
            by,
            container,
            K.REVERSAL,
            container.balance_mg,
            Decimal(0),
            to_location_id=original.location_id,
            **fields,
        )
        container.location = original.location
    else:
        delta = -original.delta_mg
        try:
            reversal = _entry(by, container, K.REVERSAL, abs(delta), delta, **fields)
        except InvalidInput:
            raise InvalidInput(
                "entry", "the container no longer holds enough to undo it; reverse later entries"
            ) from None
    _save_container(container)
    _append([reversal])
    record(
        actor=by,
        action="ledger.reverse",
        target=reversal,
        patient=original.patient,
        detail={"container": container.pk, "reverses": original.pk, "kind": original.kind},
    )
    return reversal


# Counts and reconciliation


@transaction.atomic
def record_count(
    *,
    by,
    site: Site,
    kind: str,
    unit: str,
    counted: dict[int, object],
    location: StorageLocation | None = None,
    timing: str = "",
    counted_at: datetime | None = None,
) -> Count:
    """What was counted in each container, against what the ledger says. A difference opens
    a reconciliation."""
    check_permission(by, Permission.LEDGER_RECORD)
    errors = FieldErrors()
    if kind not in set(rules.CountKind):
        errors.add("kind", "is not one of the allowed choices")
    inventory = kind in rules.INVENTORY_KINDS
    if inventory and timing not in set(rules.CountTiming):
        errors.add("timing", "is required for an inventory: opening or close of business")
    if inventory and location is not None:
        errors.add("location", "an inventory covers the whole site")
    if unit not in set(rules.QuantityUnit):
        errors.add("unit", "must be mg or mL")
    if location is not None and location.site_id != site.pk:
        errors.add("location", "is at another site")
    moment = _occurred(errors, counted_at, "counted_at")
    errors.raise_any()
    containers = Container.objects.select_for_update(of=("self",)).select_related("product")
    containers = containers.filter(location__site=site, balance_mg__gt=0)
    if location is not None:
        containers = containers.filter(location=location)
    containers = list(containers.order_by("pk"))
    known = {c.pk for c in containers}
    if set(counted) - known:
        errors.add("counted", "names a container that is not in stock here; reload the form")
    values = {}
    for container in containers:
        values[container.pk] = errors.check(
            rules.parse_count,
            f"container_{container.pk}",
            counted.get(container.pk),
            unit,
            container.product.mg_per_ml,
        )
    errors.raise_any()
    count = Count.objects.create(
        site=site,
        location=location,
        kind=kind,
        timing=timing if inventory else "",
        counted_at=moment,
        counted_by=by,
        unit=unit,
    )
    CountLine.objects.bulk_create(
        CountLine(count=count, container=c, expected_mg=c.balance_mg, counted_mg=values[c.pk])
        for c in containers
    )
    lines = [rules.CountedLine(c.pk, c.balance_mg, values[c.pk]) for c in containers]
    differ = rules.discrepancies(lines)
    if differ:
        Reconciliation.objects.create(count=count, opened_at=timezone.now())
    record(
        actor=by,
        action="ledger.count",
        target=count,
        detail={"kind": kind, "containers": len(lines), "discrepancies": len(differ)},
    )
    return count


def _signature(errors: FieldErrors, by, password: str) -> None:
    if not password or not by.check_password(password):
        errors.add("password", "does not match your password (you sign the resolution)")


@transaction.atomic
def investigate_reconciliation(*, by, reconciliation: Reconciliation, note: str) -> None:
    check_permission(by, Permission.LEDGER_RECONCILE)
    reconciliation = Reconciliation.objects.select_for_update().get(pk=reconciliation.pk)
    errors = FieldErrors()
    note = _text(errors, "note", note, limit=1000)
    status = errors.check(
        rules.next_reconciliation_status,
        reconciliation.status,
        rules.ReconciliationStep.INVESTIGATE,
    )
    errors.raise_any()
    reconciliation.status = status.value
    reconciliation.investigation_note = note
    reconciliation.save(update_fields=["status", "investigation_note"])
    record(actor=by, action="ledger.reconciliation.investigate", target=reconciliation)


@transaction.atomic
def resolve_reconciliation(
    *, by, reconciliation: Reconciliation, resolution: str, explanation: str, password: str
) -> Reconciliation:
    """The prescriber's signed resolution. Adjusting to the count writes one adjustment entry
    per container that differed, applied to the container's balance now."""
    check_permission(by, Permission.LEDGER_RECONCILE)
    reconciliation = Reconciliation.objects.select_for_update().get(pk=reconciliation.pk)
    errors = FieldErrors()
    status = errors.check(
        rules.next_reconciliation_status, reconciliation.status, rules.ReconciliationStep.RESOLVE
    )
    if resolution not in set(rules.Resolution):
        errors.add("resolution", "is not one of the allowed choices")
    explanation = _text(errors, "explanation", explanation, limit=1000)
    _signature(errors, by, password)
    errors.raise_any()
    entries = []
    if resolution == rules.Resolution.ADJUST_TO_COUNT:
        lines = CountLine.objects.filter(count_id=reconciliation.count_id).order_by("container_id")
        for line in lines:
            counted = rules.CountedLine(line.container_id, line.expected_mg, line.counted_mg)
            if counted.difference == 0:
                continue
            container = _lock(line.container)
            delta = rules.adjustment_after_count(container.balance_mg, counted)
            entries.append(
                _entry(
                    by,
                    container,
                    K.ADJUST,
                    abs(delta),
                    delta,
                    occurred_at=timezone.now(),
                    reconciliation=reconciliation,
                    reason=f"Count reconciled: {explanation}"[:300],
                )
            )
            _save_container(container)
        _append(entries)
    reconciliation.status = status.value
    reconciliation.resolution = resolution
    reconciliation.explanation = explanation
    reconciliation.resolved_by = by
    reconciliation.resolved_at = timezone.now()
    reconciliation.save()
    record(
        actor=by,
        action="ledger.reconciliation.resolve",
        target=reconciliation,
        detail={"resolution": resolution, "adjustments": len(entries)},
    )
    return reconciliation


def verify_ledger() -> chain.LedgerReport:
    """Walk the chain, then compare every container's stored balance with it."""
    head = LedgerChainHead.objects.filter(pk=1).first()
    rows = (
        LedgerEntry.objects.order_by("seq")
        .values(*chain.HASHED_FIELDS, "hash")
        .iterator(chunk_size=2000)
    )

    def normalised():
        for row in rows:
            row["occurred_at"] = _timestamp(row["occurred_at"])
            row["recorded_at"] = _timestamp(row["recorded_at"])
            yield row

    report = chain.verify(
        normalised(), head.seq if head else 0, head.hash if head else chain.GENESIS
    )
    if not report.intact:
        return report
    stored = dict(Container.objects.values_list("pk", "balance_mg"))
    problem = chain.compare_balances(report.balances, stored)
    if problem:
        return chain.LedgerReport(report.entries_checked, False, None, problem, report.balances)
    return report
