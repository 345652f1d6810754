from django import forms

from kapstone.access.roles import Role
from kapstone.core.models import Site


class StaffForm(forms.Form):
    username = forms.CharField(max_length=150, label="User name")
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, label="E-mail")
    credentials = forms.CharField(max_length=60, required=False, help_text="e.g. MD, RN, LMFT")
    roles = forms.MultipleChoiceField(
        choices=[(r.value, r.label) for r in Role], widget=forms.CheckboxSelectMultiple
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.filter(active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave empty for every site",
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters; they change it by asking the admin for now",
    )
