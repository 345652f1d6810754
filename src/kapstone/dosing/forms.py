"""Forms for the dosing-session pages. They parse text into values; the actions apply the rules."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from kapstone.access.roles import Permission, Role, roles_with
from kapstone.clinical import protocols
from kapstone.core.models import Room, Site
from kapstone.dosing.gates import ALDRETE_ITEMS, PregnancyTest, SuicideRisk
from kapstone.dosing.models import AdverseEventKind
from kapstone.ledger.models import Container
from kapstone.monitoring.vitals import spec

WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
HAND_VITALS = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2", "respiratory_rate")


def _staff(permission: Permission):
    return (
        get_user_model()
        .objects.filter(is_active=True, role_rows__role__in=roles_with(permission))
        .distinct()
        .order_by("last_name", "first_name", "pk")
    )


class StaffChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.display_name


class ScheduleForm(forms.Form):
    record_number = forms.CharField(label="Patient record number", max_length=20)
    site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True))
    room = forms.ModelChoiceField(queryset=Room.objects.all(), required=False)
    scheduled_start = forms.DateTimeField(label="Starts", widget=WHEN)
    prescriber = StaffChoice(queryset=get_user_model().objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prescriber"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, role_rows__role=Role.PRESCRIBER)
            .distinct()
            .order_by("last_name", "pk")
        )


def _vital_field(name: str, required: bool = False) -> forms.CharField:
    entry = spec(name)
    return forms.CharField(
        label=f"{entry.label} ({entry.unit})",
        required=required,
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class VitalsForm(forms.Form):
    systolic_bp = _vital_field("systolic_bp")
    diastolic_bp = _vital_field("diastolic_bp")
    heart_rate = _vital_field("heart_rate")
    spo2 = _vital_field("spo2")
    respiratory_rate = _vital_field("respiratory_rate")
    moaas = _vital_field("moaas")
    cadss = _vital_field("cadss")

    def values(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in self.fields}


class PreDoseForm(forms.Form):
    escort_confirmed = forms.BooleanField(label="Escort confirmed", required=False)
    fasting_hours = forms.CharField(label="Hours since last food", required=False, max_length=6)
    weight_kg = forms.CharField(label="Weight today (kg)", required=False, max_length=8)
    pregnancy_test = forms.ChoiceField(
        choices=[("", "Not asked")] + [(p.value, p.value.replace("_", " ")) for p in PregnancyTest],
        required=False,
    )
    gad7_total = forms.CharField(label="GAD-7 total", required=False, max_length=3)
    phq9_item9 = forms.CharField(label="PHQ-9 item 9 (0-3)", required=False, max_length=1)
    suicide_risk = forms.ChoiceField(
        label="C-SSRS triage",
        choices=[("", "Not asked")] + [(s.value, s.value.replace("_", " ")) for s in SuicideRisk],
        required=False,
    )
    systolic_bp = _vital_field("systolic_bp")
    diastolic_bp = _vital_field("diastolic_bp")
    heart_rate = _vital_field("heart_rate")
    spo2 = _vital_field("spo2")

    VITALS = ("systolic_bp", "diastolic_bp", "heart_rate", "spo2")


class ClearForm(forms.Form):
    review_reason = forms.CharField(
        label="Prescriber's review (needed when the check asks for one)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class StatusForm(forms.Form):
    status = forms.CharField(max_length=20)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


FROM_CONTAINER = "Taken from the ledger container when one is chosen."


class ContainerChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        product = obj.product
        return (
            f"{obj.label} · {product.name}, {product.mg_per_ml.normalize():f} mg/mL · "
            f"lot {obj.lot_number} · expires {obj.expires_on:%Y-%m-%d} · "
            f"{obj.balance_mg.normalize():f} mg left"
        )


def containers_at(site):
    """Ledger containers at the site that can give a dose today: in date, not empty."""
    return (
        Container.objects.filter(
            location__site=site, balance_mg__gt=0, expires_on__gte=timezone.localdate()
        )
        .select_related("product")
        .order_by("expires_on", "label")
    )


class AdministrationForm(forms.Form):
    # The form lists the containers of the session's site, so it is built with the site.
    takes_site = True

    container = ContainerChoice(
        label="Ledger container (drawn from the controlled-substance ledger)",
        queryset=Container.objects.none(),
        required=False,
        empty_label="None: recorded here only",
    )
    # With a container, these come from the ledger and may be left blank.
    drug = forms.CharField(max_length=40, required=False, help_text=FROM_CONTAINER)
    route = forms.ChoiceField(choices=[(r.value, r.value) for r in protocols.Route])
    concentration_mg_per_ml = forms.CharField(
        label="Concentration (mg/mL)", max_length=10, required=False, help_text=FROM_CONTAINER
    )
    lot = forms.CharField(max_length=40, required=False, help_text=FROM_CONTAINER)
    expires_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), required=False, help_text=FROM_CONTAINER
    )
    dose_mg = forms.CharField(label="Dose (mg)", max_length=10)
    volume_ml = forms.CharField(label="Volume (mL)", required=False, max_length=10)
    rate_ml_per_hour = forms.CharField(label="Rate (mL/h, IV)", required=False, max_length=10)
    devices = forms.CharField(label="Devices (intranasal)", required=False, max_length=2)
    rest_minutes = forms.CharField(label="Rest between devices (min)", required=False, max_length=3)
    started_at = forms.DateTimeField(label="Started", widget=WHEN)
    stopped_at = forms.DateTimeField(label="Stopped", widget=WHEN)
    witness = StaffChoice(queryset=get_user_model().objects.none())

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["witness"].queryset = _staff(Permission.DOSING_RECORD)
        if site is not None:
            self.fields["container"].queryset = containers_at(site)


class AcknowledgeAlertForm(forms.Form):
    action_taken = forms.CharField(
        label="Action taken", max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AdverseEventForm(forms.Form):
    kind = forms.ChoiceField(choices=AdverseEventKind.choices)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    grade = forms.ChoiceField(label="CTCAE grade", choices=[(str(g), str(g)) for g in range(1, 6)])
    action = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}))
    outcome = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class DischargeForm(forms.Form):
    escort_present = forms.BooleanField(label="Escort present", required=False)
    instructions_acknowledged = forms.BooleanField(
        label="Discharge instructions acknowledged by the patient", required=False
    )
    override_reason = forms.CharField(
        label="Prescriber's override reason (only to discharge despite the reasons shown)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, levels in ALDRETE_ITEMS.items():
            self.fields[f"aldrete_{name}"] = forms.ChoiceField(
                label=f"Aldrete: {name}",
                choices=[("", "—")] + [(str(k), f"{k}: {v}") for k, v in levels.items()],
                required=False,
            )

    def aldrete(self) -> dict[str, object]:
        return {name: self.cleaned_data.get(f"aldrete_{name}") or None for name in ALDRETE_ITEMS}


def acknowledge_form(alert_id: int, data=None) -> AcknowledgeAlertForm:
    # One form per open alert on the session page: each needs its own element ids.
    return AcknowledgeAlertForm(data, auto_id=f"id_alert{alert_id}_%s")
