"""Forms parse the schedule's text into values; kapstone.scheduling.actions applies the rules."""

from django import forms
from django.contrib.auth import get_user_model

from kapstone.core.models import Room, Site
from kapstone.scheduling.series import WEEKDAYS


class _StaffChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.display_name


def _staff_field(label: str) -> forms.ModelChoiceField:
    users = get_user_model().objects.filter(is_active=True).order_by("last_name", "first_name")
    return _StaffChoice(queryset=users, required=False, label=label)


def _room_field(label: str) -> forms.ModelChoiceField:
    rooms = Room.objects.filter(active=True).select_related("site")
    return forms.ModelChoiceField(queryset=rooms, required=False, label=label)


class SeriesForm(forms.Form):
    site = forms.ModelChoiceField(
        queryset=Site.objects.filter(active=True),
        required=False,
        label="Site",
        help_text="Left empty: the clinic's first site.",
    )
    starts_on = forms.DateField(
        label="First week from", widget=forms.DateInput(attrs={"type": "date"})
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(str(day), name) for day, name in enumerate(WEEKDAYS)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        label="Dosing weekdays",
        help_text="One for each dosing session of a week, in the order they are used.",
    )
    dosing_time = forms.TimeField(
        label="Dosing time", widget=forms.TimeInput(attrs={"type": "time"})
    )
    dosing_minutes = forms.IntegerField(label="Dosing length (minutes)", initial=120)
    integration_time = forms.TimeField(
        label="Integration time", widget=forms.TimeInput(attrs={"type": "time"})
    )
    integration_minutes = forms.IntegerField(label="Integration length (minutes)", initial=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dosing_room"] = _room_field("Dosing room")
        self.fields["dosing_staff"] = _staff_field("Dosing clinician")
        self.fields["integration_room"] = _room_field("Integration room")
        self.fields["integration_staff"] = _staff_field("Integration clinician")


class MoveForm(forms.Form):
    new_start = forms.DateTimeField(
        label="New start", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class CalendarForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True), required=False)
    room = forms.ModelChoiceField(queryset=Room.objects.filter(active=True), required=False)
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    span = forms.ChoiceField(choices=[("week", "Week"), ("day", "Day")], required=False)


class _PatientChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.full_name} · {obj.record_number}"


class RetreatForm(forms.Form):
    site = forms.ModelChoiceField(
        queryset=Site.objects.filter(active=True),
        required=False,
        label="Site",
        help_text="Left empty: the clinic's first site.",
    )
    start = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.IntegerField(label="Days", initial=5)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patients"] = _PatientChoice(
            queryset=candidates,
            widget=forms.CheckboxSelectMultiple,
            label="Patients",
            help_text="Patients with a signed treatment plan.",
        )


class StaffHoursForm(forms.Form):
    # Chosen by username and site code: the values stay the same wherever the form is posted
    # from.
    staff = _StaffChoice(
        queryset=get_user_model()
        .objects.filter(is_active=True)
        .order_by("last_name", "first_name"),
        to_field_name="username",
        label="Member of staff",
    )
    site = forms.ModelChoiceField(
        queryset=Site.objects.filter(active=True), to_field_name="code", label="Site"
    )
    weekday = forms.TypedChoiceField(
        choices=[(str(day), name) for day, name in enumerate(WEEKDAYS)], coerce=int, label="Day"
    )
    start = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(label="Until", widget=forms.TimeInput(attrs={"type": "time"}))
