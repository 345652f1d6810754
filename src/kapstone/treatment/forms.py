"""Forms for screening, consent and treatment plans.

A form only parses text into values; kapstone.treatment.actions applies the rules.
"""

from django import forms
from django.utils import timezone

from kapstone.clinical import eligibility
from kapstone.clinical.eligibility import BloodPressure
from kapstone.clinical.treatment_history import PsychotherapyModality

YES_NO = [("", "Not answered"), ("yes", "Yes"), ("no", "No")]


class ScreeningForm(forms.Form):
    """One question per rule-set question, then today's blood pressure."""

    def __init__(self, rule_set: eligibility.RuleSet, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule_set = rule_set
        for question in rule_set.questions:
            self.fields[question.id] = forms.ChoiceField(
                label=question.text, choices=YES_NO, required=False
            )
        self.fields["systolic"] = forms.IntegerField(
            label="Blood pressure: systolic (mmHg)", required=False, min_value=1
        )
        self.fields["diastolic"] = forms.IntegerField(
            label="Blood pressure: diastolic (mmHg)", required=False, min_value=1
        )

    def clean(self):
        data = super().clean()
        if (data.get("systolic") is None) != (data.get("diastolic") is None):
            self.add_error("diastolic", "Give both numbers of the reading, or neither")
        return data

    def answers(self) -> dict[str, bool | None]:
        result = {}
        for question in self.rule_set.questions:
            raw = self.cleaned_data.get(question.id, "")
            result[question.id] = None if raw == "" else raw == "yes"
        return result

    def blood_pressure(self) -> BloodPressure | None:
        systolic, diastolic = self.cleaned_data.get("systolic"), self.cleaned_data.get("diastolic")
        if systolic is None or diastolic is None:
            return None
        return BloodPressure(systolic, diastolic)


class OverrideForm(forms.Form):
    reason = forms.CharField(
        label="Reason for overriding 'not eligible'",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the record and the audit trail. Say what you weighed.",
    )


class ConsentForm(forms.Form):
    consented_at = forms.DateTimeField(
        label="Consent given at",
        initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )


class PlanForm(forms.Form):
    program = forms.ChoiceField(label="Program")
    route = forms.ChoiceField(label="Route")
    sessions_per_week = forms.DecimalField(
        label="Dosing sessions a week", max_digits=4, decimal_places=2, min_value=0
    )
    planned_dosing_sessions = forms.IntegerField(
        label="Planned dosing sessions", min_value=0, help_text="The course's defined length."
    )
    dose_mg = forms.DecimalField(
        label="Starting dose (mg)",
        required=False,
        max_digits=8,
        decimal_places=3,
        help_text="Leave blank for the protocol's starting dose at the latest weight.",
    )
    concentration_mg_per_ml = forms.DecimalField(
        label="Stock concentration (mg/mL)",
        required=False,
        max_digits=7,
        decimal_places=2,
        help_text="For a drawn-up dose: the strength on the vial, to give the volume in mL.",
    )
    infusion_minutes = forms.IntegerField(
        label="Infusion length (minutes)",
        required=False,
        help_text="IV only. Leave blank for the protocol's length.",
    )
    titration = forms.CharField(
        label="Titration plan", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    modalities = forms.MultipleChoiceField(
        label="Integration modalities",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(m.value, m.label) for m in PsychotherapyModality],
    )
    goals = forms.CharField(
        label="Goals", widget=forms.Textarea(attrs={"rows": 3}), help_text="One goal a line."
    )
    dose_override_reason = forms.CharField(
        label="Reason for a dose outside the range",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only for a dose outside the protocol's range: a prescriber writes why.",
    )
    dose_cosigner = forms.ModelChoiceField(
        label="Co-signing prescriber", required=False, queryset=None
    )
    dose_cosigner_password = forms.CharField(
        label="Co-signer's password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The co-signing prescriber types their own password here.",
    )

    def __init__(self, library, cosigners, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].choices = [(p.id, p.label) for p in library.programs.values()]
        self.fields["route"].choices = [(r.route.value, r.label) for r in library.routes.values()]
        self.fields["dose_cosigner"].queryset = cosigners
        self.fields["dose_cosigner"].label_from_instance = lambda user: user.display_name

    def content(self) -> dict:
        data = self.cleaned_data
        return {
            "program": data["program"],
            "route": data["route"],
            "sessions_per_week": data["sessions_per_week"],
            "planned_dosing_sessions": data["planned_dosing_sessions"],
            "dose_mg": data.get("dose_mg"),
            "concentration_mg_per_ml": data.get("concentration_mg_per_ml"),
            "infusion_minutes": data.get("infusion_minutes"),
            "titration": data.get("titration", ""),
            "modalities": list(data.get("modalities") or []),
            "goals": data["goals"],
            "dose_override_reason": data.get("dose_override_reason", ""),
            "dose_cosigner": data.get("dose_cosigner"),
            "dose_cosigner_password": data.get("dose_cosigner_password", ""),
        }


def plan_initial(plan) -> dict:
    return {
        "program": plan.program,
        "route": plan.route,
        "sessions_per_week": plan.sessions_per_week,
        "planned_dosing_sessions": plan.planned_dosing_sessions,
        "dose_mg": plan.dose_mg,
        "concentration_mg_per_ml": plan.concentration_mg_per_ml,
        "infusion_minutes": plan.infusion_minutes,
        "titration": plan.titration,
        "modalities": plan.modalities,
        "goals": plan.goals,
        "dose_override_reason": plan.dose_override_reason,
    }


class PresentationForm(forms.Form):
    """The clinician's presentation checklist: one box per item of the rules' checklist."""

    ticked = forms.MultipleChoiceField(
        label="What the clinician sees",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick what applies; an unticked item is recorded as a no.",
        # Django's own message repeats the value sent; ours names the field and the rule.
        error_messages={
            "invalid_choice": "What the clinician sees must be items of the presentation checklist"
        },
    )
    note = forms.CharField(
        label="Note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: what you weighed.",
    )

    def __init__(self, rule_set, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ticked"].choices = [(item.id, item.label) for item in rule_set.checklist]


class WithdrawConsentForm(forms.Form):
    reason = forms.CharField(
        label="Reason for withdrawing consent",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The patient's reason, or that they gave none. Kept in the record.",
    )


class DiscardPlanForm(forms.Form):
    reason = forms.CharField(
        label="Reason for discarding this draft",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the plan and in the audit trail.",
    )
