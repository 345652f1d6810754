"""The regulated records as files: the dispensing log (21 CFR 1304.22(c)) and the initial and
biennial inventories (21 CFR 1304.11), as CSV and as PDF (`clinical-facts.md` sections 5.2 and
5.3)."""

import csv
import io
import logging
from collections import defaultdict
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone

from kapstone.core.models import Organization
from kapstone.ledger import rules
from kapstone.ledger.models import Count, LedgerEntry


def log_entries(site, start, end) -> list[LedgerEntry]:
    entries = LedgerEntry.objects.filter(occurred_at__gte=start, occurred_at__lte=end)
    if site is not None:
        entries = entries.filter(location__site=site)
    return list(
        entries.select_related(
            "container__product",
            "container__receipt",
            "location__site",
            "to_location",
            "recorded_by",
            "second_signer",
            "patient",
            "session",
            "reversal_of",
            "loss_report",
        ).order_by("occurred_at", "seq")
    )


def _person(user) -> str:
    return user.display_name if user is not None else ""


def _address(patient) -> str:
    parts = [patient.address_line1, patient.address_line2]
    place = " ".join(p for p in (patient.city, patient.state, patient.postal_code) if p)
    return ", ".join(p for p in [*parts, place] if p)


def _mg(value: Decimal) -> str:
    return f"{value:.3f}"


def log_row(entry: LedgerEntry) -> dict:
    """One entry with every field the dispenser's record asks for."""
    product = entry.container.product
    receipt = entry.container.receipt
    patient = entry.patient
    row = {
        "entry": entry.seq,
        "date": timezone.localtime(entry.occurred_at).strftime("%Y-%m-%d %H:%M"),
        "kind": entry.label,
        "substance": product.get_substance_display(),
        "product": product.name,
        "ndc": product.ndc,
        "form": product.get_form_display(),
        "strength_mg_per_ml": _mg(product.mg_per_ml),
        "ml_per_container": _mg(product.ml_per_container),
        "container": entry.container.label,
        "lot": entry.container.lot_number,
        "location": entry.location.name,
        "to_location": entry.to_location.name if entry.to_location else "",
        "quantity_mg": _mg(entry.quantity_mg),
        "quantity_ml": _mg(rules.mg_to_ml(entry.quantity_mg, product.mg_per_ml)),
        "change_mg": _mg(entry.delta_mg),
        "balance_mg": _mg(entry.balance_after_mg),
        "patient_name": patient.sorted_name if patient else "",
        "patient_address": _address(patient) if patient else "",
        "record_number": patient.record_number if patient else "",
        "session": entry.session_id or "",
        "by": _person(entry.recorded_by),
        "witness": _person(entry.second_signer),
        "party_name": "",
        "party_address": "",
        "party_dea": "",
        "invoice": "",
        "manner": "",
        "reason": entry.reason,
        "reverses": entry.reversal_of.seq if entry.reversal_of else "",
    }
    if entry.kind == rules.EntryKind.RECEIVE:
        row.update(
            party_name=receipt.supplier_name,
            party_address=receipt.supplier_address,
            party_dea=receipt.supplier_dea_number,
            invoice=f"{receipt.invoice_number} ({receipt.containers} containers, "
            f"received {receipt.received_on:%Y-%m-%d})",
        )
    elif entry.kind == rules.EntryKind.RETURN:
        row.update(
            party_name=entry.counterparty_name,
            party_address=entry.counterparty_address,
            party_dea=entry.counterparty_dea,
            manner="Returned",
        )
    elif entry.kind == rules.EntryKind.DESTROY:
        row["manner"] = f"{entry.method} at {entry.place}"
    elif entry.kind == rules.EntryKind.LOSS:
        row["manner"] = entry.loss_report.get_kind_display()
    return row


LOG_COLUMNS = [
    ("entry", "Entry"),
    ("date", "Date"),
    ("kind", "Entry kind"),
    ("substance", "Substance"),
    ("product", "Product"),
    ("ndc", "NDC"),
    ("form", "Finished form"),
    ("strength_mg_per_ml", "Strength (mg/mL)"),
    ("ml_per_container", "Volume per container (mL)"),
    ("container", "Container"),
    ("lot", "Lot"),
    ("location", "Location"),
    ("to_location", "Moved to"),
    ("quantity_mg", "Quantity (mg)"),
    ("quantity_ml", "Quantity (mL)"),
    ("change_mg", "Change (mg)"),
    ("balance_mg", "Container balance after (mg)"),
    ("patient_name", "Patient"),
    ("patient_address", "Patient address"),
    ("record_number", "Record number"),
    ("session", "Dosing session"),
    ("by", "Administered or recorded by"),
    ("witness", "Witness"),
    ("party_name", "Supplier or recipient"),
    ("party_address", "Supplier or recipient address"),
    ("party_dea", "Supplier or recipient DEA number"),
    ("invoice", "Invoice"),
    ("manner", "Manner of disposal"),
    ("reason", "Reason or note"),
    ("reverses", "Reverses entry"),
]


def _cell(value):
    """A spreadsheet runs a cell starting with = + - or @ as a formula; text that does so is
    made plain. Numbers (a negative change) stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        try:
            Decimal(value)
        except ArithmeticError:
            return "'" + value
    return value


def _csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def dispensing_log_csv(entries: list[LedgerEntry]) -> str:
    rows = [log_row(entry) for entry in entries]
    return _csv([title for _, title in LOG_COLUMNS], [[r[k] for k, _ in LOG_COLUMNS] for r in rows])


def _pdf(template: str, context: dict) -> bytes:
    from weasyprint import HTML  # loaded on first export: it pulls in Pango and fonts

    # WeasyPrint reports each layout step at INFO; the clinic's logs need none of it.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

    html = render_to_string(template, context)
    return HTML(string=html).write_pdf()


def dispensing_log_pdf(entries, *, site, start, end) -> bytes:
    return _pdf(
        "ledger/pdf/dispensing_log.html",
        {
            "organization": Organization.current(),
            "site": site,
            "start": start,
            "end": end,
            "rows": [log_row(entry) for entry in entries],
            "printed_at": timezone.localtime(),
        },
    )


def inventory_lines(count: Count):
    lines = list(
        count.lines.select_related("container__product", "container__location").order_by(
            "container__product__substance", "container__product__ndc", "container__label"
        )
    )
    today = timezone.localdate(count.counted_at)
    by_product = defaultdict(lambda: {"full": 0, "partial": [], "total": Decimal(0)})
    for line in lines:
        container = line.container
        group = by_product[container.product]
        # Full: counted at its full quantity and not yet opened when the count was taken.
        unopened = container.opened_at is None or container.opened_at > count.counted_at
        sealed = line.counted_mg == container.initial_mg and unopened
        if sealed:
            group["full"] += 1
        else:
            group["partial"].append(line)
        group["total"] += line.counted_mg
        line.sealed = sealed
        line.expired = container.expires_on < today
    return lines, dict(by_product)


INVENTORY_COLUMNS = [
    "Substance",
    "Product",
    "NDC",
    "Finished form",
    "Strength (mg/mL)",
    "Volume per container (mL)",
    "Container",
    "Lot",
    "Expires",
    "Expired",
    "Location",
    "Full or partial",
    "Counted (mg)",
    "Counted (mL)",
    "Ledger (mg)",
    "Difference (mg)",
]


def inventory_csv(count: Count) -> str:
    lines, _ = inventory_lines(count)
    rows = []
    for line in lines:
        c = line.container
        p = c.product
        rows.append(
            [
                p.get_substance_display(),
                p.name,
                p.ndc,
                p.get_form_display(),
                _mg(p.mg_per_ml),
                _mg(p.ml_per_container),
                c.label,
                c.lot_number,
                f"{c.expires_on:%Y-%m-%d}",
                "yes" if line.expired else "no",
                c.location.name,
                "full" if line.sealed else "partial",
                _mg(line.counted_mg),
                _mg(rules.mg_to_ml(line.counted_mg, p.mg_per_ml)),
                _mg(line.expected_mg),
                _mg(line.difference_mg),
            ]
        )
    head = [
        ["Inventory", count.get_kind_display()],
        ["Site", count.site.name],
        ["Taken at", timezone.localtime(count.counted_at).strftime("%Y-%m-%d %H:%M")],
        ["Opening or close of business", count.get_timing_display()],
        ["Counted by", _person(count.counted_by)],
    ]
    preamble = _csv(head[0], head[1:])
    return preamble + "\n" + _csv(INVENTORY_COLUMNS, rows)


def inventory_pdf(count: Count) -> bytes:
    lines, by_product = inventory_lines(count)
    return _pdf(
        "ledger/pdf/inventory.html",
        {
            "organization": Organization.current(),
            "count": count,
            "lines": lines,
            "by_product": by_product,
            "printed_at": timezone.localtime(),
        },
    )
