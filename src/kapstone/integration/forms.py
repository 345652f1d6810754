"""Integration forms, built from the modality's schema. A form only parses text into
values; kapstone.integration.actions and .modalities validate."""

import re

from django import forms
from django.utils import timezone

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import modalities
from kapstone.integration import practice as practice_rules
from kapstone.integration.modalities import Kind

PART_ROWS = 6
YES_NO = [("", "Not recorded"), ("yes", "Yes"), ("no", "No")]
_PART_ERROR = re.compile(r"parts\[(\d+)\](?:\.(name|role))?$")


class IntegrationSessionForm(forms.Form):
    """When, how long, which dosing session, then one field per schema field (the IFS
    parts as rows of name and role)."""

    def __init__(self, modality: modalities.Modality, dosing_choices, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.modality = modality
        self.schema = modalities.schema(modality)
        self.fields["started_at"] = forms.DateTimeField(
            label="Started at",
            required=False,
            initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
            input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        )
        self.fields["minutes"] = forms.IntegerField(label="Minutes", required=False)
        self.fields["dosing_session"] = forms.TypedChoiceField(
            label="Integrates the dosing session of",
            choices=[("", "None"), *dosing_choices],
            coerce=int,
            empty_value=None,
            required=False,
        )
        for spec in self.schema:
            if spec.kind is Kind.PARTS:
                for row in range(1, PART_ROWS + 1):
                    self.fields[f"part_{row}_name"] = forms.CharField(
                        label=f"Part {row}: name", required=False
                    )
                    self.fields[f"part_{row}_role"] = forms.ChoiceField(
                        label=f"Part {row}: role",
                        choices=[("", "—"), *modalities.IFS_ROLES],
                        required=False,
                    )
            else:
                self.fields[spec.name] = _field(spec)
        self.part_rows: list[int] = []

    def details(self) -> dict:
        """The structured fields as kapstone.integration.modalities takes them."""
        data = self.cleaned_data
        result = {}
        for spec in self.schema:
            if spec.kind is Kind.PARTS:
                parts = []
                self.part_rows = []
                for row in range(1, PART_ROWS + 1):
                    name, role = data.get(f"part_{row}_name", ""), data.get(f"part_{row}_role", "")
                    if name or role:
                        parts.append({"name": name, "role": role})
                        self.part_rows.append(row)
                result[spec.name] = parts
            elif spec.kind is Kind.BOOL:
                raw = data.get(spec.name, "")
                result[spec.name] = None if raw == "" else raw == "yes"
            else:
                result[spec.name] = data.get(spec.name)
        return result

    def form_errors(self, error: InvalidInput | InvalidInputs) -> InvalidInputs:
        """The domain's errors renamed to this form's fields (an IFS part's list position
        becomes its row)."""
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        renamed = []
        for item in errors:
            match = _PART_ERROR.match(item.field)
            if match and int(match.group(1)) <= len(self.part_rows):
                row = self.part_rows[int(match.group(1)) - 1]
                field = f"part_{row}_{match.group(2) or 'name'}"
                item = InvalidInput(field, item.message)
            renamed.append(item)
        return InvalidInputs(renamed)


def _field(spec: modalities.Field) -> forms.Field:
    if spec.kind is Kind.INT:
        return forms.IntegerField(label=spec.label, required=False)
    if spec.kind is Kind.BOOL:
        return forms.ChoiceField(label=spec.label, choices=YES_NO, required=False)
    if spec.kind is Kind.CHOICE:
        return forms.ChoiceField(
            label=spec.label, choices=[("", "Choose…"), *spec.choices], required=False
        )
    widget = forms.Textarea(attrs={"rows": 3}) if spec.max_length > 200 else forms.TextInput
    return forms.CharField(label=spec.label, required=False, widget=widget, strip=True)


class ProcessNoteForm(forms.Form):
    text = forms.CharField(
        label="Process note",
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        help_text="Kept apart from the medical record: only you, and those you grant, read it.",
    )


class GrantForm(forms.Form):
    def __init__(self, note_choices, grantee_choices, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"] = forms.TypedChoiceField(
            label="Note", choices=[("", "Choose…"), *note_choices], coerce=int
        )
        self.fields["grantee"] = forms.TypedChoiceField(
            label="Let this clinician read it",
            choices=[("", "Choose…"), *grantee_choices],
            coerce=int,
        )


class AssignPracticeForm(forms.Form):
    """A practice from the home-practice library, how often, and from when."""

    practice = forms.ChoiceField(label="Practice", required=False)
    frequency = forms.ChoiceField(label="How often", required=False)
    starts_on = forms.DateField(
        label="Starting on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Today when blank.",
    )
    ends_on = forms.DateField(
        label="Until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Open-ended when blank.",
    )
    note = forms.CharField(
        label="Note for the patient",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown on the patient's practice page, e.g. the exposure step agreed.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["practice"].choices = [
            ("", "Choose…"),
            *((p.id, p.name) for p in practice_rules.library().values()),
        ]
        self.fields["frequency"].choices = [
            ("", "The practice's usual"),
            *practice_rules.FREQUENCIES.items(),
        ]


class PracticeLinkForm(forms.Form):
    email = forms.BooleanField(label="E-mail the link to the patient", required=False)


class PracticeLogForm(forms.Form):
    """Practice the patient reports to staff (at a session, by phone)."""

    done_on = forms.DateField(
        label="Day",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Today when blank.",
    )
    minutes = forms.IntegerField(label="Minutes", required=False)
    rating = forms.IntegerField(label="How it went (0 to 10)", required=False)
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
