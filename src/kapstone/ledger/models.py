"""The controlled-substance ledger: stock, entries, counts, reconciliations and loss reports.

Rows change only through kapstone.ledger.actions. Ledger entries and count lines are
append-only (database triggers refuse UPDATE and DELETE, kapstone.ledger.guard) and entries are
hash-chained (kapstone.ledger.chain). The rules a single row can carry are check constraints
here too, so a write that bypasses the actions still cannot break them.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from kapstone.ledger import rules

MG = {"max_digits": 12, "decimal_places": 3}


def _choices(enum, labels=None):
    return [(m.value, (labels or {}).get(m, m.value.replace("_", " ").capitalize())) for m in enum]


class StorageLocation(models.Model):
    """A locked place at a site where stock is kept: the safe, a cabinet, a cart."""

    class Kind(models.TextChoices):
        SAFE = "safe", "Safe"
        CABINET = "cabinet", "Locked cabinet"
        CART = "cart", "Locked cart"

    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="location_name_unique_per_site"),
            models.CheckConstraint(condition=~Q(name=""), name="location_named"),
        ]

    def __str__(self):
        return f"{self.site.name}: {self.name}"


class Product(models.Model):
    """A finished form by NDC: substance, strength and volume per commercial container."""

    class Substance(models.TextChoices):
        KETAMINE = "ketamine", "Ketamine hydrochloride"
        ESKETAMINE = "esketamine", "Esketamine hydrochloride"

    class Form(models.TextChoices):
        VIAL = "vial", "Injection, vial"
        NASAL = "nasal_device", "Nasal spray device"

    ndc = models.CharField(max_length=13, unique=True, verbose_name="NDC")
    name = models.CharField(max_length=200)
    substance = models.CharField(max_length=12, choices=Substance.choices)
    form = models.CharField(max_length=12, choices=Form.choices)
    mg_per_ml = models.DecimalField(**MG)
    ml_per_container = models.DecimalField(**MG)
    mg_per_container = models.DecimalField(**MG)

    class Meta:
        ordering = ["substance", "mg_per_ml", "ndc"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="product_named"),
            models.CheckConstraint(
                condition=Q(mg_per_ml__gt=0, ml_per_container__gt=0, mg_per_container__gt=0),
                name="product_quantities_positive",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.strength})"

    @property
    def strength(self) -> str:
        return f"{self.mg_per_ml.normalize():f} mg/mL, {self.ml_per_container.normalize():f} mL"


class Receipt(models.Model):
    """Stock received from a supplier, with the data of its invoice (21 CFR 1304.22(c))."""

    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="receipts")
    supplier_name = models.CharField(max_length=200)
    supplier_address = models.CharField(max_length=300)
    supplier_dea_number = models.CharField(max_length=9, verbose_name="supplier's DEA number")
    invoice_number = models.CharField(max_length=60)
    received_on = models.DateField()
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    containers = models.PositiveIntegerField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(containers__gte=1, containers__lte=500), name="receipt_containers"
            ),
            models.CheckConstraint(
                condition=~Q(supplier_name="") & ~Q(invoice_number="") & ~Q(lot_number=""),
                name="receipt_documented",
            ),
        ]


class Container(models.Model):
    """One vial or device, from its receipt until it is empty. Its balance moves only with a
    ledger entry, under a row lock."""

    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="container_rows")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=30, unique=True)
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, related_name="containers"
    )
    initial_mg = models.DecimalField(**MG)
    balance_mg = models.DecimalField(**MG)
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["product", "expires_on", "label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_mg__gte=0), name="container_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(initial_mg__gt=0), name="container_initial_positive"
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def status(self) -> str:
        if self.balance_mg == 0:
            return "empty"
        if self.opened_at is not None or self.balance_mg != self.initial_mg:
            return "open"
        return "sealed"

    @property
    def balance_ml(self):
        return rules.mg_to_ml(self.balance_mg, self.product.mg_per_ml)


class LossReport(models.Model):
    """A theft or significant loss, with the data of DEA Form 106 and its two deadlines."""

    class Kind(models.TextChoices):
        THEFT = "theft", "Theft"
        LOSS = "loss", "Significant loss"

    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    discovered_at = models.DateTimeField()
    description = models.CharField(max_length=1000)
    # Computed when the loss is recorded, and kept, so later holiday settings do not move them.
    notice_due = models.DateField()
    form_106_due = models.DateField()
    notice_sent_on = models.DateField(null=True, blank=True)
    form_106_filed_on = models.DateField(null=True, blank=True)
    form_106_reference = models.CharField(max_length=60, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-discovered_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(description=""), name="loss_described"),
            models.CheckConstraint(
                condition=Q(form_106_filed_on__isnull=True) | ~Q(form_106_reference=""),
                name="loss_form_106_has_reference",
            ),
        ]

    def states(self, today):
        return {
            "notice": rules.deadline_state(self.notice_due, self.notice_sent_on, today),
            "form_106": rules.deadline_state(self.form_106_due, self.form_106_filed_on, today),
        }


class Count(models.Model):
    """Stock counted against the ledger: a shift or daily count of a location, or an initial
    or biennial inventory of a whole site (section 5.3). Append-only."""

    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    # None: the whole site (an inventory).
    location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="counts"
    )
    kind = models.CharField(max_length=10, choices=_choices(rules.CountKind))
    # An inventory records whether it was taken at the opening or the close of business.
    timing = models.CharField(max_length=10, choices=_choices(rules.CountTiming), blank=True)
    counted_at = models.DateTimeField()
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.CharField(max_length=2, choices=_choices(rules.QuantityUnit))

    class Meta:
        ordering = ["-counted_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=sorted(k.value for k in rules.INVENTORY_KINDS))
                | (~Q(timing="") & Q(location__isnull=True)),
                name="inventory_covers_site_with_timing",
            ),
        ]

    @property
    def is_inventory(self) -> bool:
        return self.kind in rules.INVENTORY_KINDS


class CountLine(models.Model):
    count = models.ForeignKey(Count, on_delete=models.PROTECT, related_name="lines")
    container = models.ForeignKey(Container, on_delete=models.PROTECT, related_name="+")
    expected_mg = models.DecimalField(**MG)
    counted_mg = models.DecimalField(**MG)

    class Meta:
        ordering = ["count", "container__label"]
        constraints = [
            models.UniqueConstraint(fields=["count", "container"], name="count_line_once"),
            models.CheckConstraint(
                condition=Q(expected_mg__gte=0, counted_mg__gte=0), name="count_line_not_negative"
            ),
        ]

    @property
    def difference_mg(self):
        return self.counted_mg - self.expected_mg


class Reconciliation(models.Model):
    """A count that disagreed with the ledger, until the prescriber resolves and signs it."""

    count = models.OneToOneField(Count, on_delete=models.PROTECT, related_name="reconciliation")
    status = models.CharField(
        max_length=15,
        choices=_choices(rules.ReconciliationStatus),
        default=rules.ReconciliationStatus.OPEN.value,
    )
    opened_at = models.DateTimeField()
    investigation_note = models.CharField(max_length=1000, blank=True)
    resolution = models.CharField(max_length=20, choices=_choices(rules.Resolution), blank=True)
    explanation = models.CharField(max_length=1000, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="resolved")
                | (
                    Q(resolved_by__isnull=False, resolved_at__isnull=False)
                    & ~Q(resolution="")
                    & ~Q(explanation="")
                ),
                name="reconciliation_resolved_is_signed",
            ),
        ]


class LedgerEntry(models.Model):
    """One movement of one container, signed by who recorded it (and a second member of staff
    where the rules ask). Append-only and hash-chained: a correction is a reversal entry."""

    seq = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=10, choices=_choices(rules.EntryKind))
    container = models.ForeignKey(Container, on_delete=models.PROTECT, related_name="entries")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="+")
    to_location = models.ForeignKey(
        StorageLocation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    quantity_mg = models.DecimalField(**MG)
    delta_mg = models.DecimalField(**MG)
    balance_after_mg = models.DecimalField(**MG)
    # When it happened (the actual date the regulation asks for) and when it was written.
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The witness to a waste, destruction or return, who re-entered their password.
    second_signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    session = models.ForeignKey(
        "dosing.DosingSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    reversal_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    loss_report = models.ForeignKey(
        LossReport, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    reason = models.CharField(max_length=300, blank=True)
    # Destruction (DEA Form 41): the method, and where it was done.
    method = models.CharField(max_length=200, blank=True)
    place = models.CharField(max_length=200, blank=True)
    # A return: the reverse distributor or supplier the stock went to.
    counterparty_name = models.CharField(max_length=200, blank=True)
    counterparty_address = models.CharField(max_length=300, blank=True)
    counterparty_dea = models.CharField(max_length=9, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="entry_seq_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in rules.EntryKind]), name="entry_kind_known"
            ),
            models.CheckConstraint(condition=Q(quantity_mg__gt=0), name="entry_quantity_positive"),
            models.CheckConstraint(
                condition=Q(balance_after_mg__gte=0), name="entry_balance_not_negative"
            ),
            # The sign of the change follows from the kind.
            models.CheckConstraint(
                condition=Q(kind="receive", delta_mg=F("quantity_mg"))
                | Q(
                    kind__in=["administer", "waste", "destroy", "return", "loss"],
                    delta_mg=-F("quantity_mg"),
                )
                | Q(kind="transfer", delta_mg=0)
                | Q(kind__in=["adjust", "reversal"], delta_mg=F("quantity_mg"))
                | Q(kind__in=["adjust", "reversal"], delta_mg=-F("quantity_mg"))
                | Q(kind="reversal", delta_mg=0),
                name="entry_change_follows_kind",
            ),
            # Every administration names its patient and dosing session; nothing else does.
            models.CheckConstraint(
                condition=Q(kind="administer", patient__isnull=False, session__isnull=False)
                | (~Q(kind="administer") & Q(patient__isnull=True, session__isnull=True)),
                name="entry_administration_has_patient_and_session",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["waste", "destroy", "return"])
                | Q(second_signer__isnull=False),
                name="entry_witnessed_where_required",
            ),
            models.CheckConstraint(
                condition=Q(second_signer__isnull=True) | ~Q(second_signer=F("recorded_by")),
                name="entry_signers_distinct",
            ),
            models.CheckConstraint(
                condition=Q(kind="reversal", reversal_of__isnull=False)
                | (~Q(kind="reversal") & Q(reversal_of__isnull=True)),
                name="entry_reversal_names_its_entry",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["adjust", "reversal", "loss"]) | ~Q(reason=""),
                name="entry_reason_where_required",
            ),
            models.CheckConstraint(
                condition=Q(kind="transfer", to_location__isnull=False)
                & ~Q(to_location=F("location"))
                | Q(kind="reversal")
                | (~Q(kind="transfer") & Q(to_location__isnull=True)),
                name="entry_transfer_names_a_new_location",
            ),
            models.CheckConstraint(
                condition=~Q(kind="destroy") | ~Q(method=""), name="entry_destruction_has_method"
            ),
            models.CheckConstraint(
                condition=~Q(kind="return") | ~Q(counterparty_name=""),
                name="entry_return_has_recipient",
            ),
            models.CheckConstraint(
                condition=~Q(kind="loss") | Q(loss_report__isnull=False),
                name="entry_loss_has_report",
            ),
        ]

    @property
    def rule(self) -> rules.KindRule:
        return rules.KIND_RULES[rules.EntryKind(self.kind)]

    @property
    def label(self) -> str:
        return self.rule.label

    @property
    def quantity_ml(self):
        return rules.mg_to_ml(self.quantity_mg, self.container.product.mg_per_ml)


class LedgerChainHead(models.Model):
    """The last entry's sequence number and hash; the row every ledger writer locks."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
