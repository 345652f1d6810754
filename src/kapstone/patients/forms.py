"""Forms parse what was typed into Python values; the actions apply the clinic's rules."""

from django import forms

from kapstone.clinical.treatment_history import DrugClass, PsychotherapyModality, Response
from kapstone.clinical.units import HeightUnit, WeightUnit
from kapstone.core.models import Site
from kapstone.patients.models import Allergy, Patient

DATE = forms.DateInput(attrs={"type": "date"})


def _choices(enum):
    return [(m.value, getattr(m, "label", m.value)) for m in enum]


class DemographicsForm(forms.Form):
    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    preferred_name = forms.CharField(max_length=100, required=False)
    date_of_birth = forms.DateField(widget=DATE)
    sex_at_birth = forms.ChoiceField(choices=Patient.SexAtBirth.choices)
    gender_identity = forms.CharField(max_length=60, required=False)
    pronouns = forms.CharField(max_length=30, required=False)
    phone = forms.CharField(max_length=40, required=False)
    email = forms.EmailField(required=False)
    address_line1 = forms.CharField(max_length=200, required=False, label="Address")
    address_line2 = forms.CharField(max_length=200, required=False, label="Address line 2")
    city = forms.CharField(max_length=100, required=False)
    state = forms.CharField(max_length=50, required=False)
    postal_code = forms.CharField(max_length=20, required=False, label="ZIP code")
    home_site = forms.ModelChoiceField(queryset=Site.objects.filter(active=True), required=False)


class RegisterPatientForm(DemographicsForm):
    # Text, not a number field: the weight rule (units, plausible range) gives the message.
    weight = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    weight_unit = forms.ChoiceField(choices=_choices(WeightUnit), initial="kg")
    height = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    height_unit = forms.ChoiceField(choices=_choices(HeightUnit), initial="cm")


class MeasurementForm(forms.Form):
    weight = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    weight_unit = forms.ChoiceField(choices=_choices(WeightUnit), initial="kg")
    height = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    height_unit = forms.ChoiceField(choices=_choices(HeightUnit), initial="cm")


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    relationship = forms.CharField(max_length=60)
    phone = forms.CharField(max_length=40)
    email = forms.EmailField(required=False)
    is_emergency_contact = forms.BooleanField(required=False, label="Emergency contact")
    is_escort = forms.BooleanField(
        required=False, label="Escort / support person (takes the patient home after dosing)"
    )
    notes = forms.CharField(max_length=300, required=False)


class AllergyForm(forms.Form):
    substance = forms.CharField(max_length=200)
    reaction = forms.CharField(max_length=200, required=False)
    severity = forms.ChoiceField(choices=Allergy.Severity.choices, initial="unknown")


class MedicationForm(forms.Form):
    name = forms.CharField(max_length=200)
    drug_class = forms.ChoiceField(choices=_choices(DrugClass), initial="other")
    dose = forms.CharField(max_length=100, required=False)
    frequency = forms.CharField(max_length=100, required=False)
    started_on = forms.DateField(required=False, widget=DATE)


class DiagnosisForm(forms.Form):
    code = forms.CharField(
        max_length=10,
        label="ICD-10-CM code",
        widget=forms.TextInput(attrs={"list": "common-codes", "autocomplete": "off"}),
    )
    is_primary = forms.BooleanField(required=False, label="Primary diagnosis")
    diagnosed_on = forms.DateField(required=False, widget=DATE)


class MedicationTrialForm(forms.Form):
    drug = forms.CharField(max_length=200)
    drug_class = forms.ChoiceField(choices=_choices(DrugClass))
    max_daily_dose_mg = forms.CharField(required=False, label="Highest daily dose (mg)")
    weeks = forms.IntegerField(min_value=0, max_value=1040, label="Weeks taken")
    adequate_dose = forms.BooleanField(required=False, label="Dose judged adequate")
    response = forms.ChoiceField(choices=_choices(Response))
    side_effects = forms.CharField(max_length=300, required=False)
    started_on = forms.DateField(required=False, widget=DATE)


class PsychotherapyCourseForm(forms.Form):
    modality = forms.ChoiceField(choices=_choices(PsychotherapyModality))
    sessions = forms.IntegerField(min_value=0, max_value=1000)
    response = forms.ChoiceField(choices=_choices(Response))
    ended_on = forms.DateField(required=False, widget=DATE)
    notes = forms.CharField(max_length=300, required=False)
