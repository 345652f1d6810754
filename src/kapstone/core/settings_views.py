"""The clinic's settings page: its changes to the shipped defaults as TOML, with what ships
beside them. No patient is shown here."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.clinical import settings_check
from kapstone.core import clinic_settings
from kapstone.core.models import Organization
from kapstone.core.permissions import has_permission, requires
from kapstone.errors import InvalidInput, InvalidInputs


class SettingsForm(forms.Form):
    settings = forms.CharField(
        label="The clinic's settings (TOML)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 24, "cols": 90, "spellcheck": "false"}),
        help_text="Only what the clinic changes; anything left out keeps the shipped default.",
    )
    reason = forms.CharField(
        label="Reason for the change",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit trail with the sections and settings changed.",
    )

    def clean_settings(self):
        try:
            return clinic_settings.parse_toml(self.cleaned_data["settings"])
        except InvalidInput as error:
            raise forms.ValidationError(f"The settings {error.message}") from None


def _show_errors(form: SettingsForm, error: InvalidInput | InvalidInputs) -> None:
    """A refused reason beside the reason; every other problem, by its key path, beside the
    settings."""
    for item in error.errors if isinstance(error, InvalidInputs) else [error]:
        if item.field == "reason":
            form.add_error("reason", f"The reason {item.message}")
        elif item.field == "settings":
            form.add_error("settings", f"The settings {item.message}")
        else:
            form.add_error("settings", f"{item.field}: {item.message}")


def _page(request, form: SettingsForm, status: int = 200):
    clinical = sorted(settings_check.CLINICAL_SECTIONS)
    # Settings saved before they were checked, or by hand, may not pass today's checks: say
    # so, by key path, before someone relies on them.
    saved = settings_check.check(Organization.current().settings_overrides)
    return render(
        request,
        "core/settings.html",
        {
            "form": form,
            "can_manage": has_permission(request.user, P.SETTINGS_MANAGE),
            "can_change_clinical": clinic_settings.can_update_settings(request.user, clinical),
            "clinical_sections": clinical,
            "sections": settings_check.shipped_sections(),
            "saved_problems": saved,
        },
        status=status,
    )


@requires(P.SETTINGS_VIEW)
def clinic_settings_page(request):
    current = Organization.current().settings_overrides
    try:
        text = clinic_settings.as_toml(current)
    except TypeError:
        # Settings put in the database by hand can hold a null, which TOML cannot write.
        form = SettingsForm()
        form.add_error("settings", "The settings hold an empty value TOML cannot show.")
        return _page(request, form)
    return _page(request, SettingsForm(initial={"settings": text}))


@requires(P.SETTINGS_MANAGE)
@require_POST
def clinic_settings_save(request):
    form = SettingsForm(request.POST)
    if form.is_valid():
        try:
            clinic_settings.update_clinic_settings(
                by=request.user,
                overrides=form.cleaned_data["settings"],
                reason=form.cleaned_data["reason"],
            )
        except (InvalidInput, InvalidInputs) as error:
            _show_errors(form, error)
        else:
            messages.success(request, "The clinic's settings are saved.")
            return redirect("clinic_settings")
    return _page(request, form, status=422)


urlpatterns = [
    path("", clinic_settings_page, name="clinic_settings"),
    path("save/", clinic_settings_save, name="clinic_settings_save"),
]
