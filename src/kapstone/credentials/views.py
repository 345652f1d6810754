"""Staff credentials: the clinic's board, a person's credentials, adding, renewing and
verifying. Staff details only: these pages show no patient."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import has_permission, requires
from kapstone.credentials import actions, queries, rules
from kapstone.credentials.forms import CredentialForm, RenewForm
from kapstone.credentials.models import Credential
from kapstone.errors import InvalidInput, InvalidInputs


def _rows(credentials, today):
    return [{"credential": c, "status": str(rules.status(c, today))} for c in credentials]


@requires(P.CREDENTIALS_VIEW)
def credential_board(request):
    today = timezone.localdate()
    staff = list(queries.board())
    rows = [{"person": person, "credentials": _rows(person.current, today)} for person in staff]
    held = [c for person in staff for c in person.current]
    return render(
        request,
        "credentials/board.html",
        {
            "rows": rows,
            "expired": len(rules.expired(held, today)),
            "expiring": len(rules.expiring(held, today)),
            "days": rules.ALERT_DAYS,
        },
    )


def _staff_page(request, person, form, status=200):
    today = timezone.localdate()
    credentials = Credential.objects.filter(user=person).select_related("verified_by")
    return render(
        request,
        "credentials/staff.html",
        {
            "person": person,
            "current": _rows([c for c in credentials if c.active], today),
            "history": [c for c in credentials if not c.active],
            "form": form,
            "can_manage": has_permission(request.user, P.CREDENTIALS_MANAGE),
            "days": rules.ALERT_DAYS,
        },
        status=status,
    )


@requires(P.CREDENTIALS_VIEW)
def credential_staff(request, user_pk):
    person = get_object_or_404(get_user_model(), pk=user_pk)
    return _staff_page(request, person, CredentialForm())


@requires(P.CREDENTIALS_MANAGE)
def credential_add(request, user_pk):
    person = get_object_or_404(get_user_model(), pk=user_pk)
    form = CredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.add_credential(by=request.user, user=person, **form.cleaned_data)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Credential added.")
            return redirect("credential_staff", user_pk=person.pk)
    return _staff_page(request, person, form, status=422 if form.errors else 200)


@requires(P.CREDENTIALS_MANAGE)
def credential_renew(request, pk):
    credential = get_object_or_404(Credential.objects.select_related("user"), pk=pk)
    form = RenewForm(request.POST or None, initial={"identifier": credential.identifier})
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            actions.renew_credential(
                by=request.user,
                credential=credential,
                issued_on=data["issued_on"],
                expires_on=data["expires_on"],
                # Left blank, the number stays as it was.
                identifier=data["identifier"] or None,
                document_note=data["document_note"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Renewal recorded; the old card is kept in the history.")
            return redirect("credential_staff", user_pk=credential.user_id)
    return render(
        request,
        "credentials/renew.html",
        {
            "credential": credential,
            "form": form,
            "cancel": reverse("credential_staff", args=[credential.user_id]),
        },
        status=422 if form.errors else 200,
    )


@requires(P.CREDENTIALS_MANAGE)
@require_POST
def credential_verify(request, pk):
    credential = get_object_or_404(Credential, pk=pk)
    try:
        actions.verify_credential(by=request.user, credential=credential)
    except (InvalidInput, InvalidInputs) as error:
        errors = error.errors if isinstance(error, InvalidInputs) else [error]
        for item in errors:
            messages.error(request, f"Nothing was saved: the credential {item.message}.")
    else:
        messages.success(request, "Marked as verified.")
    return redirect("credential_staff", user_pk=credential.user_id)


urlpatterns = [
    path("", credential_board, name="credential_board"),
    path("staff/<int:user_pk>/", credential_staff, name="credential_staff"),
    path("staff/<int:user_pk>/add/", credential_add, name="credential_add"),
    path("<int:pk>/renew/", credential_renew, name="credential_renew"),
    path("<int:pk>/verify/", credential_verify, name="credential_verify"),
]
