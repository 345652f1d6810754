"""Urgent suicide-risk alerts: the list every clinician sees, and acknowledging one."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.assessments.forms import AcknowledgeAlertForm
from kapstone.assessments.models import RiskAlert
from kapstone.audit.recording import record, record_reads
from kapstone.clinical import instruments
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import requires
from kapstone.errors import InvalidInput, InvalidInputs

RECENTLY_ACKNOWLEDGED = 20


@requires(P.ALERT_ACKNOWLEDGE)
def alert_list(request):
    open_alerts = list(
        RiskAlert.objects.filter(status=RiskAlert.Status.OPEN)
        .select_related("patient", "assessment")
        .order_by("raised_at", "id")
    )
    recent = list(
        RiskAlert.objects.filter(status=RiskAlert.Status.ACKNOWLEDGED)
        .select_related("patient", "assessment", "acknowledged_by")
        .order_by("-acknowledged_at", "-id")[:RECENTLY_ACKNOWLEDGED]
    )
    shown = {alert.patient_id: alert.patient for alert in [*open_alerts, *recent]}
    record_reads(
        actor=request.user, action="patient.list", targets=shown.values(), detail={"list": "alerts"}
    )
    return render(request, "assessments/alerts.html", {"open": open_alerts, "recent": recent})


def _answered_items(alert: RiskAlert) -> list[tuple[str, str]]:
    """The items of the alerting questionnaire answered above the lowest answer, labelled as
    the instrument allows (licensed wording stays on the clinic's form)."""
    inst = instruments.get(alert.assessment.instrument)
    rows = []
    for number, item in enumerate(inst.items, start=1):
        answer = alert.assessment.answers.get(item.id)
        if answer in (None, 0, False):
            continue
        text = item.text if inst.licence.text_may_ship and item.text else item.label
        option = item.option(answer)
        shown = option.label if option and inst.licence.text_may_ship else str(answer)
        if isinstance(answer, bool):
            shown = "Yes"
        rows.append((f"{number}. {text}", shown))
    return rows


@requires(P.ALERT_ACKNOWLEDGE)
def alert_detail(request, pk):
    alert = get_object_or_404(
        RiskAlert.objects.select_related("patient", "assessment", "acknowledged_by"), pk=pk
    )
    form = AcknowledgeAlertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.acknowledge_alert(
                by=request.user,
                alert=alert,
                action=form.cleaned_data["action"],
                note=form.cleaned_data["action_note"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Alert acknowledged; the action is on the patient's record.")
            return redirect("alert_list")
    record(
        actor=request.user,
        action="patient.view",
        target=alert.patient,
        detail={"section": "alert", "alert": alert.pk},
    )
    return render(
        request,
        "assessments/alert.html",
        {
            "alert": alert,
            "patient": alert.patient,
            "instrument": instruments.get(alert.assessment.instrument),
            "items": _answered_items(alert),
            "form": form,
        },
        status=422 if form.errors else 200,
    )


urlpatterns = [
    path("alerts/", alert_list, name="alert_list"),
    path("alerts/<int:pk>/", alert_detail, name="alert_detail"),
]
