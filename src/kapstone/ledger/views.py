"""The ledger's pages. Every page is audited, reads too: a page that shows patients records
them as the patient list does (record_reads), any other page writes one event."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.audit.recording import record, record_reads
from kapstone.core.forms import apply_domain_errors
from kapstone.core.models import Site
from kapstone.core.permissions import requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.ledger import actions, forms, reports, rules
from kapstone.ledger.models import (
    Container,
    Count,
    LedgerChainHead,
    LedgerEntry,
    LossReport,
    Reconciliation,
    StorageLocation,
)

FORM_TEMPLATE = "ledger/form.html"


def _viewed(request, action: str, target=None, patients=(), **detail) -> None:
    """The patients shown, as the patient list records them, or the page when it shows none."""
    patients = list({p.pk: p for p in patients if p is not None}.values())
    if target is not None and patients:
        detail[target._meta.model_name] = target.pk
    if patients:
        record_reads(actor=request.user, action=action, targets=patients, detail=detail)
    else:
        record(actor=request.user, action=action, target=target, detail=detail)


def _refused(form, error) -> None:
    apply_domain_errors(form, error)


# Stock


@requires(P.LEDGER_VIEW)
def stock(request):
    show_empty = request.GET.get("empty") == "1"
    containers = Container.objects.select_related("product", "location__site").order_by(
        "location__site__name", "location__name", "product__substance", "expires_on", "label"
    )
    if not show_empty:
        containers = containers.filter(balance_mg__gt=0)
    locations = {}
    for location in StorageLocation.objects.filter(active=True).select_related("site"):
        locations[location.pk] = {"location": location, "containers": [], "totals": {}}
    for container in containers:
        group = locations.setdefault(
            container.location_id,
            {"location": container.location, "containers": [], "totals": {}},
        )
        group["containers"].append(container)
        total = group["totals"].setdefault(
            container.product_id, {"product": container.product, "mg": 0, "containers": 0}
        )
        total["mg"] += container.balance_mg
        total["containers"] += 1
    today = timezone.localdate()
    open_reconciliations = Reconciliation.objects.exclude(status="resolved").select_related(
        "count__site", "count__location"
    )
    losses_due = LossReport.objects.filter(
        Q(notice_sent_on__isnull=True) | Q(form_106_filed_on__isnull=True)
    ).select_related("site")
    _viewed(request, "ledger.stock.view", containers=len(containers))
    return render(
        request,
        "ledger/stock.html",
        {
            "groups": sorted(
                locations.values(), key=lambda g: (g["location"].site.name, g["location"].name)
            ),
            "sites": Site.objects.filter(active=True),
            "show_empty": show_empty,
            "open_reconciliations": open_reconciliations,
            "losses_due": [(loss, loss.states(today)) for loss in losses_due],
            "today": today,
        },
    )


@requires(P.LEDGER_RECORD)
def location_new(request):
    form = forms.LocationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            location = actions.add_location(by=request.user, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(request, f"Added {location}.")
            return redirect("ledger_stock")
    _viewed(request, "ledger.form.view", form="location")
    return _form_page(request, form, "Add a storage location", reverse("ledger_stock"))


def _form_page(request, form, title, cancel, **context):
    return render(
        request,
        FORM_TEMPLATE,
        {"form": form, "title": title, "cancel": cancel, **context},
        status=422 if form.errors else 200,
    )


@requires(P.LEDGER_RECORD)
def receive(request):
    form = forms.ReceiveForm(request.POST or None, initial={"received_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            receipt = actions.receive(by=request.user, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(
                request, f"Received {receipt.containers} container(s) into {receipt.location}."
            )
            return redirect("ledger_stock")
    _viewed(request, "ledger.form.view", form="receive")
    return _form_page(request, form, "Receive stock", reverse("ledger_stock"))


def _container(pk) -> Container:
    return get_object_or_404(
        Container.objects.select_related("product", "location__site", "receipt"), pk=pk
    )


@requires(P.LEDGER_VIEW)
def container_detail(request, pk):
    container = _container(pk)
    entries = list(
        container.entries.select_related(
            "recorded_by",
            "second_signer",
            "patient",
            "session",
            "location",
            "to_location",
            "reversal_of",
            "loss_report",
        ).order_by("seq")
    )
    reversed_ids = set(
        LedgerEntry.objects.filter(reversal_of__in=entries).values_list("reversal_of_id", flat=True)
    )
    for entry in entries:
        entry.reversed = entry.pk in reversed_ids
        entry.reversible = entry.kind in rules.REVERSIBLE and not entry.reversed
    # Entries name patients by record number: each patient shown is a read of their record.
    _viewed(
        request,
        "ledger.container.view",
        target=container,
        patients=[e.patient for e in entries],
    )
    return render(
        request,
        "ledger/container.html",
        {"container": container, "entries": entries, "slugs": ENTRY_SLUGS},
    )


@dataclass(frozen=True)
class ContainerEntry:
    """One kind of entry made from its own small form on a container."""

    slug: str
    title: str
    form: type
    action: object


ENTRIES = [
    ContainerEntry("administer", "Administer a dose", forms.AdministerForm, actions.administer),
    ContainerEntry("waste", "Waste residue (two staff sign)", forms.WasteForm, actions.waste),
    ContainerEntry(
        "transfer", "Transfer to another location", forms.TransferForm, actions.transfer
    ),
    ContainerEntry(
        "destroy", "Destroy stock (DEA Form 41, two witnesses)", forms.DestroyForm, actions.destroy
    ),
    ContainerEntry(
        "return",
        "Return to a reverse distributor or supplier",
        forms.ReturnForm,
        actions.return_stock,
    ),
    ContainerEntry(
        "loss", "Report a theft or loss (DEA Form 106)", forms.LossForm, actions.report_loss
    ),
    ContainerEntry("adjust", "Adjust with a reason", forms.AdjustForm, actions.adjust),
]
ENTRY_SLUGS = [(entry.slug, entry.title) for entry in ENTRIES]


def _entry_view(entry: ContainerEntry):
    @requires(P.LEDGER_RECORD)
    def view(request, pk):
        container = _container(pk)
        form = entry.form(request.POST or None, container=container, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            try:
                entry.action(by=request.user, container=container, **data)
            except (InvalidInput, InvalidInputs) as error:
                _refused(form, error)
                _note_refused_witness(request, error, data.get("witness"))
            else:
                messages.success(request, "Recorded in the ledger.")
                return redirect("ledger_container", pk=container.pk)
        if entry.slug == "administer":
            # The session list names patients: each one shown is a read of their record.
            shown = [session.patient for session in form.fields["session"].queryset]
            action = "patient.list" if shown else "ledger.container.view"
            _viewed(request, action, target=container, patients=shown, form=entry.slug)
        else:
            _viewed(request, "ledger.container.view", target=container, form=entry.slug)
        return _form_page(
            request,
            form,
            entry.title,
            reverse("ledger_container", args=[container.pk]),
            container=container,
        )

    view.__name__ = f"ledger_{entry.slug}"
    return view


def _note_refused_witness(request, error, witness) -> None:
    """A wrong witness password is recorded, so repeated guessing shows in the audit trail."""
    errors = error.errors if isinstance(error, InvalidInputs) else [error]
    if witness is not None and any(e.field == "witness_password" for e in errors):
        record(actor=request.user, action="ledger.witness.refused", target=witness)


@requires(P.LEDGER_RECORD)
def entry_reverse(request, pk):
    entry = get_object_or_404(
        LedgerEntry.objects.select_related("container__product", "patient"), pk=pk
    )
    form = forms.ReverseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.reverse(by=request.user, entry=entry, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(request, "Reversed. The original entry stays in the ledger.")
            return redirect("ledger_container", pk=entry.container_id)
    # The entry is shown; an administration names its patient.
    _viewed(request, "ledger.entry.view", target=entry, patients=[entry.patient], form="reverse")
    return _form_page(
        request,
        form,
        f"Reverse entry {entry.seq}",
        reverse("ledger_container", args=[entry.container_id]),
        entry=entry,
        container=entry.container,
    )


# Counts and reconciliation


@requires(P.LEDGER_RECORD)
def count_new(request, site_pk):
    site = get_object_or_404(Site, pk=site_pk)
    location = None
    if request.GET.get("location"):
        location = get_object_or_404(StorageLocation, pk=request.GET["location"], site=site)
    containers = Container.objects.filter(location__site=site, balance_mg__gt=0)
    if location is not None:
        containers = containers.filter(location=location)
    containers = list(containers.select_related("product", "location").order_by("pk"))
    initial = {"kind": request.GET.get("kind", "shift")}
    form = forms.CountForm(request.POST or None, containers=containers, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            count = actions.record_count(
                by=request.user,
                site=site,
                location=location,
                kind=data["kind"],
                timing=data["timing"],
                unit=data["unit"],
                counted=form.counted(),
            )
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            if hasattr(count, "reconciliation"):
                messages.warning(
                    request, "The count differs from the ledger: a reconciliation is open."
                )
            else:
                messages.success(request, "The count agrees with the ledger.")
            return redirect("ledger_count", pk=count.pk)
    _viewed(request, "ledger.form.view", target=site, form="count")
    where = location.name if location else f"{site.name} (whole site)"
    return _form_page(
        request,
        form,
        f"Count: {where}",
        reverse("ledger_stock"),
        intro="Count what is there before you look at the ledger. Enter 0 for an empty "
        "container. Open containers of a Schedule III substance may be estimated.",
    )


def _count(pk) -> Count:
    return get_object_or_404(Count.objects.select_related("site", "location", "counted_by"), pk=pk)


@requires(P.LEDGER_VIEW)
def count_detail(request, pk):
    count = _count(pk)
    lines = list(count.lines.select_related("container__product", "container__location"))
    reconciliation = (
        Reconciliation.objects.filter(count=count).select_related("resolved_by").first()
    )
    _viewed(request, "ledger.count.view", target=count)
    return render(
        request,
        "ledger/count.html",
        {"count": count, "lines": lines, "reconciliation": reconciliation},
    )


def _reconciliation(pk) -> Reconciliation:
    return get_object_or_404(Reconciliation.objects.select_related("count"), pk=pk)


@requires(P.LEDGER_RECONCILE)
def reconciliation_investigate(request, pk):
    reconciliation = _reconciliation(pk)
    form = forms.InvestigateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.investigate_reconciliation(
                by=request.user, reconciliation=reconciliation, **form.cleaned_data
            )
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(request, "Marked as under investigation.")
            return redirect("ledger_count", pk=reconciliation.count_id)
    _viewed(request, "ledger.reconciliation.view", target=reconciliation)
    return _form_page(
        request,
        form,
        "Investigate a count discrepancy",
        reverse("ledger_count", args=[reconciliation.count_id]),
    )


@requires(P.LEDGER_RECONCILE)
def reconciliation_resolve(request, pk):
    reconciliation = _reconciliation(pk)
    form = forms.ResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.resolve_reconciliation(
                by=request.user, reconciliation=reconciliation, **form.cleaned_data
            )
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(request, "Resolved and signed.")
            return redirect("ledger_count", pk=reconciliation.count_id)
    _viewed(request, "ledger.reconciliation.view", target=reconciliation)
    return _form_page(
        request,
        form,
        "Resolve and sign a count discrepancy",
        reverse("ledger_count", args=[reconciliation.count_id]),
    )


# Theft and loss


@requires(P.LEDGER_VIEW)
def losses(request):
    today = timezone.localdate()
    reports_ = list(
        LossReport.objects.select_related("site", "reported_by").prefetch_related("entries")
    )
    for report in reports_:
        # Added up here, in Decimal: SQLite would sum the stored values as floating point.
        report.mg = sum((e.quantity_mg for e in report.entries.all()), Decimal(0))
        report.containers = len(report.entries.all())
    _viewed(request, "ledger.losses.view", reports=len(reports_))
    return render(
        request,
        "ledger/losses.html",
        {"reports": [(r, r.states(today)) for r in reports_], "today": today},
    )


@requires(P.LEDGER_RECORD)
def loss_update(request, pk):
    report = get_object_or_404(LossReport.objects.select_related("site"), pk=pk)
    form = forms.LossUpdateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_loss_report(by=request.user, report=report, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            _refused(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("ledger_losses")
    _viewed(request, "ledger.loss.view", target=report)
    return _form_page(
        request,
        form,
        f"{report.get_kind_display()} discovered {timezone.localtime(report.discovered_at):%Y-%m-%d}",
        reverse("ledger_losses"),
        loss=report,
        states=report.states(timezone.localdate()),
    )


# Reports


def _period(form) -> tuple[Site | None, datetime, datetime]:
    today = timezone.localdate()
    data = form.cleaned_data if form.is_valid() else {}
    since = data.get("since") or today - timedelta(days=30)
    until = data.get("until") or today
    tz = timezone.get_current_timezone()
    return (
        data.get("site"),
        timezone.make_aware(datetime.combine(since, time.min), tz),
        timezone.make_aware(datetime.combine(until, time.max), tz),
    )


def _log_entries(request):
    form = forms.LogFilterForm(request.GET or None)
    site, start, end = _period(form)
    entries = reports.log_entries(site, start, end)
    return form, site, start, end, entries


@requires(P.LEDGER_VIEW)
def dispensing_log(request):
    form, site, start, end, entries = _log_entries(request)
    _viewed(request, "ledger.dispensing_log.view", patients=[e.patient for e in entries])
    query = request.GET.urlencode()
    # Changing a filter swaps the table in place (HTMX); the page itself is the same read.
    template = "ledger/_log_rows.html" if request.htmx else "ledger/dispensing_log.html"
    return render(
        request,
        template,
        {
            "form": form,
            "entries": entries,
            "start": start,
            "end": end,
            "site": site,
            "query": query,
        },
    )


@requires(P.LEDGER_VIEW)
def dispensing_log_csv(request):
    *_filters, entries = _log_entries(request)
    _viewed(
        request,
        "ledger.dispensing_log.export",
        patients=[e.patient for e in entries],
        format="csv",
    )
    response = HttpResponse(reports.dispensing_log_csv(entries), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="dispensing-log.csv"'
    return response


@requires(P.LEDGER_VIEW)
def dispensing_log_pdf(request):
    _form, site, start, end, entries = _log_entries(request)
    _viewed(
        request,
        "ledger.dispensing_log.export",
        patients=[e.patient for e in entries],
        format="pdf",
    )
    pdf = reports.dispensing_log_pdf(entries, site=site, start=start, end=end)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="dispensing-log.pdf"'
    return response


@requires(P.LEDGER_VIEW)
def inventories(request):
    counts = list(
        Count.objects.filter(kind__in=sorted(rules.INVENTORY_KINDS)).select_related(
            "site", "counted_by"
        )
    )
    due = {}
    for count in sorted(counts, key=lambda c: c.counted_at):
        due[count.site_id] = rules.biennial_due(timezone.localdate(count.counted_at))
    sites = [(site, due.get(site.pk)) for site in Site.objects.filter(active=True)]
    _viewed(request, "ledger.inventories.view", inventories=len(counts))
    return render(
        request,
        "ledger/inventories.html",
        {"counts": counts, "sites": sites, "today": timezone.localdate()},
    )


def _inventory(pk) -> Count:
    count = _count(pk)
    if not count.is_inventory:
        raise Http404("not an inventory")
    return count


@requires(P.LEDGER_VIEW)
def inventory_csv(request, pk):
    count = _inventory(pk)
    _viewed(request, "ledger.inventory.export", target=count, format="csv")
    response = HttpResponse(reports.inventory_csv(count), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="inventory-{count.pk}.csv"'
    return response


@requires(P.LEDGER_VIEW)
def inventory_pdf(request, pk):
    count = _inventory(pk)
    _viewed(request, "ledger.inventory.export", target=count, format="pdf")
    response = HttpResponse(reports.inventory_pdf(count), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="inventory-{count.pk}.pdf"'
    return response


@requires(P.LEDGER_VIEW)
def verify(request):
    report = actions.verify_ledger()
    head = LedgerChainHead.objects.filter(pk=1).first()
    _viewed(request, "ledger.verify", intact=report.intact, entries=report.entries_checked)
    return render(
        request,
        "ledger/verify.html",
        {"report": report, "head": head},
        status=200,
    )


urlpatterns = [
    path("", stock, name="ledger_stock"),
    path("locations/new/", location_new, name="ledger_location_new"),
    path("receive/", receive, name="ledger_receive"),
    path("containers/<int:pk>/", container_detail, name="ledger_container"),
    path("entries/<int:pk>/reverse/", entry_reverse, name="ledger_reverse"),
    path("sites/<int:site_pk>/count/", count_new, name="ledger_count_new"),
    path("counts/<int:pk>/", count_detail, name="ledger_count"),
    path(
        "reconciliations/<int:pk>/investigate/",
        reconciliation_investigate,
        name="ledger_reconciliation_investigate",
    ),
    path(
        "reconciliations/<int:pk>/resolve/",
        reconciliation_resolve,
        name="ledger_reconciliation_resolve",
    ),
    path("losses/", losses, name="ledger_losses"),
    path("losses/<int:pk>/", loss_update, name="ledger_loss_update"),
    path("dispensing-log/", dispensing_log, name="ledger_dispensing_log"),
    path("dispensing-log.csv", dispensing_log_csv, name="ledger_dispensing_log_csv"),
    path("dispensing-log.pdf", dispensing_log_pdf, name="ledger_dispensing_log_pdf"),
    path("inventories/", inventories, name="ledger_inventories"),
    path("counts/<int:pk>/inventory.csv", inventory_csv, name="ledger_inventory_csv"),
    path("counts/<int:pk>/inventory.pdf", inventory_pdf, name="ledger_inventory_pdf"),
    path("verify/", verify, name="ledger_verify"),
] + [
    path(f"containers/<int:pk>/{entry.slug}/", _entry_view(entry), name=f"ledger_{entry.slug}")
    for entry in ENTRIES
]
