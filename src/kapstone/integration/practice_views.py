"""Home practice: the patient's practice page for staff (assignments and adherence,
assigning from the library, the patient's link) and the patient's own phone page.

The patient's page is public: the link's token is the only key, as for a check-in link
(kapstone.assessments.views.checkins): never cached, no Referer sent anywhere, not indexed,
the token kept out of the access log (kapstone.core.logging), no name shown, and one page for
every link that does not open.
"""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.assessments.views.checkins import patient_facing
from kapstone.audit.recording import record
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import has_permission, public, requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import actions, queries
from kapstone.integration import practice as practice_rules
from kapstone.integration.forms import AssignPracticeForm, PracticeLinkForm, PracticeLogForm
from kapstone.integration.models import PracticeAssignment, PracticeLink
from kapstone.patients.models import Patient

GONE_STATUS = 410
RATINGS = list(range(practice_rules.MIN_RATING, practice_rules.MAX_RATING + 1))


def _viewed(request, patient, **detail):
    record(actor=request.user, action="patient.view", target=patient, detail=detail)


def _nothing_saved(request, error: InvalidInput | InvalidInputs) -> None:
    errors = error.errors if isinstance(error, InvalidInputs) else [error]
    messages.error(request, "Nothing was saved: " + "; ".join(str(e) for e in errors) + ".")


# ---------------------------------------------------------------------------------------------
# Staff pages


@requires(P.PATIENT_VIEW_CLINICAL)
def practice_home(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    can_record = has_permission(request.user, P.INTEGRATION_RECORD)
    ended = list(
        PracticeAssignment.objects.filter(patient=patient, active=False).order_by(
            "-ends_on", "-id"
        )[:50]
    )
    _viewed(request, patient, section="practice")
    return render(
        request,
        "integration/practice.html",
        {
            "patient": patient,
            "rows": queries.practice_rows(patient),
            "ended": ended,
            "link": queries.open_practice_link(patient),
            "can_record": can_record,
            "link_form": PracticeLinkForm(initial={"email": bool(patient.email)}),
            "link_days": _link_days(),
        },
    )


def _link_days() -> int | None:
    """None when the clinic's setting is wrong: the page still opens, and making a link says
    which setting to fix."""
    try:
        return actions.practice_link_days()
    except InvalidInput:
        return None


@requires(P.INTEGRATION_RECORD)
def practice_assign(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = AssignPracticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            assignment = actions.assign_practice(
                by=request.user,
                patient=patient,
                practice=data["practice"],
                frequency=data["frequency"] or None,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                note=data["note"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"{assignment.name} assigned.")
            return redirect("practice_home", pk=patient.pk)
    _viewed(request, patient, form="practice_assign")
    return render(
        request,
        "integration/practice_assign.html",
        {"form": form, "patient": patient, "library": practice_rules.library().values()},
        status=422 if form.errors else 200,
    )


@requires(P.INTEGRATION_RECORD)
@require_POST
def practice_end(request, pk, assignment_pk):
    assignment = get_object_or_404(PracticeAssignment, pk=assignment_pk, patient_id=pk)
    try:
        actions.end_practice(by=request.user, assignment=assignment)
    except (InvalidInput, InvalidInputs) as error:
        _nothing_saved(request, error)
    else:
        messages.success(request, f"{assignment.name} ended.")
    return redirect("practice_home", pk=pk)


@requires(P.INTEGRATION_RECORD)
def practice_log(request, pk, assignment_pk):
    """Staff log a day's practice the patient reports."""
    assignment = get_object_or_404(
        PracticeAssignment.objects.select_related("patient"), pk=assignment_pk, patient_id=pk
    )
    form = PracticeLogForm(request.POST or None, initial={"done_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.log_practice(
                by=request.user,
                assignment=assignment,
                done_on=data["done_on"] or timezone.localdate(),
                minutes=data["minutes"],
                rating=data["rating"],
                note=data["note"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"{assignment.name}: practice logged.")
            return redirect("practice_home", pk=pk)
    _viewed(request, assignment.patient, form="practice_log", assignment=assignment.pk)
    return render(
        request,
        "integration/practice_log.html",
        {"form": form, "patient": assignment.patient, "assignment": assignment},
        status=422 if form.errors else 200,
    )


@requires(P.INTEGRATION_RECORD)
@require_POST
def practice_link_issue(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = PracticeLinkForm(request.POST)
    email = form.is_valid() and form.cleaned_data["email"]
    try:
        link, _token = actions.issue_practice_link(by=request.user, patient=patient, email=email)
    except (InvalidInput, InvalidInputs) as error:
        _nothing_saved(request, error)
        return redirect("practice_home", pk=pk)
    if email:
        messages.success(request, "New link made; it is being e-mailed to the patient.")
    else:
        messages.success(request, "New link made.")
    return redirect("practice_link_show", pk=pk, link_pk=link.pk)


@requires(P.INTEGRATION_RECORD)
@never_cache
def practice_link_show(request, pk, link_pk):
    """A link just made, shown once: to read out, text or copy. A second showing is refused
    (issue a new link instead), so the page cannot be opened again from the history."""
    link = get_object_or_404(
        PracticeLink.objects.select_related("patient"), pk=link_pk, patient_id=pk
    )
    try:
        token = actions.show_practice_link(by=request.user, link=link)
    except InvalidInputs:
        raise Http404("this link has already been shown") from None
    # The address the patient's e-mail carries too (behind a proxy, not this request's host).
    address = settings.KAPSTONE_BASE_URL.rstrip("/") + reverse("practice_page", args=[token])
    response = render(
        request,
        "integration/practice_link.html",
        {"patient": link.patient, "link": link, "address": address},
    )
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------------------------
# The patient's page


def _gone(request):
    return render(request, "integration/practice_gone.html", status=GONE_STATUS)


def _whole(raw: str):
    """A whole number, or the text as given (which the rules then refuse by name)."""
    raw = (raw or "").strip()
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


LABELS = {"minutes": "Minutes", "rating": "How it went", "note": "Note", "done_on": "Day"}


@public
@csrf_exempt
@patient_facing
def practice_page(request, token):
    # No CSRF token, as for a check-in link: the token in the address is the secret a forged
    # request would need, and the page acts for whoever holds the link.
    try:
        link = actions.open_practice_link(token)
    except actions.PracticeLinkUnavailable:
        return _gone(request)
    errors: dict[str, str] = {}
    failed = None
    if request.method == "POST":
        failed = _whole(request.POST.get("assignment", ""))
        try:
            actions.log_practice_by_link(
                token=token,
                assignment_id=failed if isinstance(failed, int) else 0,
                minutes=_whole(request.POST.get("minutes", "")),
                rating=_whole(request.POST.get("rating", "")),
            )
        except actions.PracticeLinkUnavailable:
            return _gone(request)
        except InvalidInputs as invalid:
            errors = {
                e.field: f"{LABELS.get(e.field, 'This')} {e.message}." for e in invalid.errors
            }
        else:
            return redirect("practice_page", token=token)
    rows = queries.practice_rows(link.patient, active_only=True)
    today = timezone.localdate()
    items = [
        {
            "row": row,
            "practice": row.assignment.details,
            "done_today": [log for log in row.logs if log.done_on == today],
            "errors": errors if failed == row.assignment.pk else {},
            "posted": request.POST if failed == row.assignment.pk else {},
        }
        for row in rows
    ]
    return render(
        request,
        "integration/practice_patient.html",
        {
            "items": items,
            "errors": errors,
            "closes_at": link.expires_at,
            "ratings": RATINGS,
            "max_minutes": practice_rules.MAX_MINUTES,
        },
        status=422 if errors else 200,
    )


urlpatterns = [
    path("patients/<int:pk>/practice/", practice_home, name="practice_home"),
    path("patients/<int:pk>/practice/assign/", practice_assign, name="practice_assign"),
    path("patients/<int:pk>/practice/<int:assignment_pk>/end/", practice_end, name="practice_end"),
    path("patients/<int:pk>/practice/<int:assignment_pk>/log/", practice_log, name="practice_log"),
    path("patients/<int:pk>/practice/link/", practice_link_issue, name="practice_link_issue"),
    path(
        "patients/<int:pk>/practice/link/<int:link_pk>/",
        practice_link_show,
        name="practice_link_show",
    ),
    path("p/<str:token>/", practice_page, name="practice_page"),
]
