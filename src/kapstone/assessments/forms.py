"""Forms for staff entering a questionnaire, built from the instrument's definition.

A form only parses text into values; kapstone.assessments.actions validates and scores.
"""

from django import forms
from django.utils import timezone

from kapstone.assessments.models import RiskAlert, Timepoint
from kapstone.clinical import instruments


def _item_choices(item: instruments.Item, show_text: bool) -> list[tuple[str, str]]:
    choices = [("", "Not answered")]
    if item.kind is instruments.ItemKind.YES_NO:
        return [*choices, ("yes", "Yes"), ("no", "No")]
    labels = {str(option.value): option.label for option in item.options} if show_text else {}
    for value in range(item.min, item.max + 1):
        label = labels.get(str(value))
        choices.append((str(value), f"{value}: {label}" if label else str(value)))
    return choices


class AssessmentForm(forms.Form):
    """One field per item (named by the item id), then when and where in the treatment."""

    def __init__(self, instrument: instruments.Instrument, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        show_text = instrument.licence.text_may_ship
        for number, item in enumerate(instrument.items, start=1):
            label = item.text if show_text and item.text else item.label
            self.fields[item.id] = forms.ChoiceField(
                label=f"{number}. {label}",
                choices=_item_choices(item, show_text),
                required=False,
                widget=forms.Select,
            )
        for flag in instrument.context:
            self.fields[f"context_{flag.id}"] = forms.BooleanField(label=flag.label, required=False)
        self.fields["answered_at"] = forms.DateTimeField(
            label="Answered at",
            initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
            input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        )
        self.fields["timepoint"] = forms.ChoiceField(
            label="Point in the treatment", choices=Timepoint.choices, initial=Timepoint.OTHER
        )

    def answers(self) -> dict:
        """Item answers as the scoring takes them: numbers, True/False, or left out."""
        result = {}
        for item in self.instrument.items:
            raw = self.cleaned_data.get(item.id, "")
            if raw == "":
                continue
            if item.kind is instruments.ItemKind.YES_NO:
                result[item.id] = raw == "yes"
            else:
                result[item.id] = int(raw)
        return result

    def context(self) -> dict:
        return {
            flag.id: bool(self.cleaned_data.get(f"context_{flag.id}"))
            for flag in self.instrument.context
        }


class AcknowledgeAlertForm(forms.Form):
    action = forms.ChoiceField(
        label="What was done", choices=[("", "Choose…"), *RiskAlert.Action.choices]
    )
    action_note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when the action is 'Other'. Do not paste the patient's answers here.",
    )
