"""Forms parse what was typed; kapstone.ledger.actions applies the ledger's rules.

Quantities stay text here so the ledger's own rule (exact, positive, mg or mL) gives the
message, as the weight fields of the patient record do.
"""

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from kapstone.access.roles import Permission, roles_with
from kapstone.core.models import Site
from kapstone.dosing.models import DosingSession
from kapstone.dosing.rules import DOSE_STATUSES
from kapstone.ledger import rules
from kapstone.ledger.models import LossReport, Product, StorageLocation

DATE = forms.DateInput(attrs={"type": "date"})
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DECIMAL = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
UNITS = [(u.value, u.value) for u in rules.QuantityUnit]


def _choices(enum):
    return [(m.value, m.value.replace("_", " ").capitalize()) for m in enum]


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.display_name


def licensed_staff():
    roles = sorted(role.value for role in roles_with(Permission.LEDGER_RECORD))
    return (
        get_user_model()
        .objects.filter(is_active=True, role_rows__role__in=roles)
        .distinct()
        .order_by("last_name", "first_name", "pk")
    )


class LocationForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True))
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=StorageLocation.Kind.choices)


class ReceiveForm(forms.Form):
    location = forms.ModelChoiceField(
        queryset=StorageLocation.objects.filter(active=True).select_related("site"),
        label="Stored in",
    )
    received_on = forms.DateField(widget=DATE, label="Date received")
    supplier_name = forms.CharField(max_length=200)
    supplier_address = forms.CharField(max_length=300)
    supplier_dea_number = forms.CharField(max_length=12, label="Supplier's DEA number")
    invoice_number = forms.CharField(max_length=60)
    ndc = forms.CharField(max_length=13, label="NDC", help_text="As printed, e.g. 0409-2051-05")
    product_name = forms.CharField(max_length=200)
    substance = forms.ChoiceField(choices=Product.Substance.choices)
    form = forms.ChoiceField(choices=Product.Form.choices)
    mg_per_ml = forms.CharField(widget=DECIMAL, label="Strength (mg/mL)")
    ml_per_container = forms.CharField(widget=DECIMAL, label="Volume per container (mL)")
    lot_number = forms.CharField(max_length=40)
    expires_on = forms.DateField(widget=DATE, label="Expiry date")
    containers = forms.IntegerField(min_value=1, max_value=500, label="Containers received")


class ContainerForm(forms.Form):
    """A form about one container, for the member of staff filling it in."""

    def __init__(self, *args, container, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.container = container
        self.user = user
        if "witness" in self.fields:
            self.fields["witness"].queryset = licensed_staff().exclude(pk=user.pk)


def _quantity_fields(label="Quantity"):
    return (
        forms.CharField(widget=DECIMAL, label=label),
        forms.ChoiceField(choices=UNITS, initial="mg", label="Unit"),
    )


def _witness_fields():
    return (
        StaffChoiceField(queryset=get_user_model().objects.none(), label="Witness"),
        forms.CharField(
            widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
            label="Witness's password",
            help_text="The witness signs by entering their own password.",
        ),
    )


class SessionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        when = timezone.localtime(obj.scheduled_start).strftime("%Y-%m-%d %H:%M")
        room = f" · {obj.room.name}" if obj.room else ""
        return f"{when}{room} · {obj.patient.record_number} {obj.patient.sorted_name}"


def open_sessions(site_id):
    """Today's sessions at the site (and yesterday's and tomorrow's, for clinics open late)
    that are cleared for dosing or under way."""
    now = timezone.now()
    return (
        DosingSession.objects.filter(
            site_id=site_id,
            status__in=sorted(DOSE_STATUSES),
            scheduled_start__gte=now - timedelta(days=1),
            scheduled_start__lte=now + timedelta(days=1),
        )
        .select_related("patient", "room")
        .order_by("scheduled_start", "pk")
    )


class AdministerForm(ContainerForm):
    session = SessionChoiceField(queryset=DosingSession.objects.none(), label="Dosing session")
    quantity, unit = _quantity_fields("Dose drawn")
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Drawn at", help_text="Leave empty for now."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = open_sessions(self.container.location.site_id)


class WasteForm(ContainerForm):
    quantity, unit = _quantity_fields("Residue wasted")
    witness, witness_password = _witness_fields()
    reason = forms.CharField(max_length=300, required=False, label="Note")
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Wasted at", help_text="Leave empty for now."
    )


class DestroyForm(ContainerForm):
    quantity, unit = _quantity_fields("Quantity destroyed")
    method = forms.CharField(max_length=200, help_text="How it was made non-retrievable")
    place = forms.CharField(max_length=200, label="Where it was destroyed")
    witness, witness_password = _witness_fields()
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Destroyed at", help_text="Leave empty for now."
    )


class ReturnForm(ContainerForm):
    quantity, unit = _quantity_fields("Quantity returned")
    recipient_name = forms.CharField(max_length=200, help_text="Reverse distributor or supplier")
    recipient_address = forms.CharField(max_length=300)
    recipient_dea_number = forms.CharField(max_length=12, label="Recipient's DEA number")
    witness, witness_password = _witness_fields()
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Sent at", help_text="Leave empty for now."
    )


class TransferForm(ContainerForm):
    to_location = forms.ModelChoiceField(queryset=StorageLocation.objects.none(), label="Move to")
    reason = forms.CharField(max_length=300, required=False, label="Note")
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="Moved at", help_text="Leave empty for now."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_location"].queryset = (
            StorageLocation.objects.filter(active=True, site_id=self.container.location.site_id)
            .exclude(pk=self.container.location_id)
            .select_related("site")
        )


class LossForm(ContainerForm):
    kind = forms.ChoiceField(choices=LossReport.Kind.choices)
    quantity, unit = _quantity_fields("Quantity missing")
    discovered_at = forms.DateTimeField(widget=DATETIME, label="Discovered at")
    description = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label="What happened"
    )


class AdjustForm(ContainerForm):
    direction = forms.ChoiceField(
        choices=[("add", "Add to the container"), ("remove", "Take from the container")]
    )
    quantity, unit = _quantity_fields()
    reason = forms.CharField(max_length=300)
    occurred_at = forms.DateTimeField(
        widget=DATETIME, required=False, label="At", help_text="Leave empty for now."
    )


class ReverseForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="Why the entry was wrong")


class LossUpdateForm(forms.Form):
    notice_sent_on = forms.DateField(
        widget=DATE, required=False, label="Written notice sent to the DEA Field Division on"
    )
    form_106_filed_on = forms.DateField(widget=DATE, required=False, label="DEA Form 106 filed on")
    form_106_reference = forms.CharField(max_length=60, required=False, label="Form 106 reference")


class InvestigateForm(forms.Form):
    note = forms.CharField(
        max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label="What is being checked"
    )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(
        choices=[
            (rules.Resolution.ADJUST_TO_COUNT.value, "The count is right: adjust the ledger to it"),
            (rules.Resolution.LEDGER_STANDS.value, "The ledger is right (a recount agreed)"),
            (rules.Resolution.LOSS_REPORTED.value, "Stock is missing: a loss report records it"),
        ],
        widget=forms.RadioSelect,
    )
    explanation = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        label="Your password",
        help_text="You sign the resolution by entering your password.",
    )


class CountForm(forms.Form):
    kind = forms.ChoiceField(choices=_choices(rules.CountKind), initial="shift")
    timing = forms.ChoiceField(
        choices=[("", "(not an inventory)")] + _choices(rules.CountTiming),
        required=False,
        help_text="An initial or biennial inventory records opening or close of business.",
    )
    unit = forms.ChoiceField(choices=UNITS, initial="mg", label="Counted in")

    def __init__(self, *args, containers, **kwargs):
        super().__init__(*args, **kwargs)
        self.containers = containers
        for container in containers:
            self.fields[f"container_{container.pk}"] = forms.CharField(
                required=False,
                widget=DECIMAL,
                label=f"{container.label} · {container.product.name} · lot {container.lot_number}",
                help_text=f"{container.location.name}; {container.status}",
            )

    def counted(self) -> dict[int, str]:
        return {
            int(name.removeprefix("container_")): value
            for name, value in self.cleaned_data.items()
            if name.startswith("container_")
        }


class LogFilterForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True), required=False)
    since = forms.DateField(widget=DATE, required=False)
    until = forms.DateField(widget=DATE, required=False)
