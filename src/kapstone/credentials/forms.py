"""Credential forms. A form only parses text into values; kapstone.credentials.actions
decides what is allowed."""

from django import forms

from kapstone.credentials.models import KIND_CHOICES

DATE = forms.DateInput(attrs={"type": "date"})


class CredentialForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose…"), *KIND_CHOICES])
    identifier = forms.CharField(
        label="Number", required=False, help_text="Licence or registration number, if any."
    )
    issuer = forms.CharField(label="Issued by", required=False)
    jurisdiction = forms.CharField(label="State or jurisdiction", required=False)
    issued_on = forms.DateField(label="Issued on", required=False, widget=DATE)
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=DATE,
        help_text="Required for licences, DEA registrations and ACLS/BLS cards.",
    )
    document_note = forms.CharField(
        label="Where the copy is kept", required=False, help_text="A file reference, not a scan."
    )


class RenewForm(forms.Form):
    issued_on = forms.DateField(label="New card issued on", required=False, widget=DATE)
    expires_on = forms.DateField(label="New expiry date", required=False, widget=DATE)
    identifier = forms.CharField(label="Number", required=False)
    document_note = forms.CharField(label="Where the copy is kept", required=False)
