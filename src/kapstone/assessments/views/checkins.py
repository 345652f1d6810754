"""Check-ins between sessions: the patient's questionnaire page, and the staff pages that send
links and set schedules.

The patient's pages are public: the link's token is the only key. It is 32 bytes of HMAC
under the server's secret, so it cannot be guessed in any number of tries a server would
answer, and throttling adds nothing a guess could notice; every closed link (unknown, used,
expired, cancelled) gets the same page and status. Because the token is in the address, the
pages are never cached, tell the browser to send no Referer anywhere, ask search engines not
to index them, and the access log writes the path without it (kapstone.core.serving).
The pages show no name: at most "your clinic".
"""

import time
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.assessments.models import CheckIn, CheckInSchedule, Timepoint
from kapstone.audit.recording import record
from kapstone.clinical import instruments
from kapstone.core.forms import apply_domain_errors
from kapstone.core.models import Organization
from kapstone.core.permissions import public, requires
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.patients.models import Patient

# What the confirmation page may say, kept in the answering browser's session only (never in
# an address someone could forward), for as long as a patient might read or reload it.
DONE_KEY = "kapstone_checkin_done"
DONE_SECONDS = 30 * 60
GONE_STATUS = 410


def patient_facing(view):
    """Headers for pages whose address carries a token, or that a patient in distress sees."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return never_cache(wrapped)


def _crisis_lines() -> list[dict[str, str]]:
    return Organization.current().config.crisis_lines


# ---------------------------------------------------------------------------------------------
# The patient's pages


def _field_name(instrument_id: str, item_id: str) -> str:
    return f"{instrument_id}__{item_id}"


def _choices(item: instruments.Item) -> list[tuple[str, str]]:
    if item.kind is instruments.ItemKind.YES_NO:
        return [("yes" if option.value else "no", option.label) for option in item.options]
    return [(str(option.value), option.label) for option in item.options]


def _parse(item: instruments.Item, raw: str):
    """The answer as the item's own type, or None for a value the page never offered."""
    for value, _label in _choices(item):
        if raw == value:
            if item.kind is instruments.ItemKind.YES_NO:
                return value == "yes"
            return int(value)
    return None


def _shown_recall_period(inst: instruments.Instrument) -> str | None:
    # A recall period the reference does not state is a note for staff, not for patients.
    period = inst.recall_period
    if not period or "UNCONFIRMED" in period or period.startswith("not stated"):
        return None
    return period


def _read_answers(checkin: CheckIn, data) -> tuple[dict, dict[str, str]]:
    """Answers by instrument and item, and a message per form field left wrong or empty."""
    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for instrument_id in checkin.instruments:
        inst = instruments.get(instrument_id)
        given = {}
        for item in inst.items:
            name = _field_name(inst.id, item.id)
            raw = data.get(name, "")
            if raw == "":
                continue
            value = _parse(item, raw)
            if value is None:
                errors[name] = "Choose one of the answers shown."
            else:
                given[item.id] = value
        for item_id in instruments.asked_items(inst, given):
            name = _field_name(inst.id, item_id)
            if item_id not in given and name not in errors:
                errors[name] = "Please choose an answer."
        answers[inst.id] = given
    return answers, errors


def _raises_urgent_flag(answers: dict) -> bool:
    """Whether answers already given would raise an urgent flag, so a page sent back for
    missing answers still puts the crisis lines first."""
    for instrument_id, given in answers.items():
        try:
            if instruments.score(instrument_id, given).urgent:
                return True
        except InvalidInput:
            continue
    return False


def _questionnaires(checkin: CheckIn, data, errors: dict[str, str]) -> tuple[list[dict], int]:
    blocks, number = [], 0
    total = sum(len(instruments.get(i).items) for i in checkin.instruments)
    for instrument_id in checkin.instruments:
        inst = instruments.get(instrument_id)
        items = []
        for item in inst.items:
            number += 1
            name = _field_name(inst.id, item.id)
            items.append(
                {
                    "name": name,
                    "number": number,
                    "text": item.text or item.label,
                    "choices": _choices(item),
                    "chosen": data.get(name, "") if data else "",
                    "error": errors.get(name),
                    "asked_if": item.asked_if,
                }
            )
        blocks.append(
            {
                "title": inst.name,
                "short_name": inst.short_name,
                "stem": inst.stem,
                "recall_period": _shown_recall_period(inst),
                "items": items,
            }
        )
    return blocks, total


def _gone(request):
    return render(
        request,
        "assessments/checkin_gone.html",
        {"crisis_lines": _crisis_lines()},
        status=GONE_STATUS,
    )


@public
@csrf_exempt
@patient_facing
def checkin_answer(request, token):
    # No CSRF token: the link's own token is the secret a forged request would need, and with
    # no Referer a browser posts this form with "Origin: null", which the CSRF check refuses.
    # There is no session to ride on: the page acts for whoever holds the link.
    try:
        checkin = actions.open_checkin(token)
    except actions.CheckInUnavailable:
        return _gone(request)
    errors: dict[str, str] = {}
    urgent = False
    if request.method == "POST":
        answers, errors = _read_answers(checkin, request.POST)
        if not errors:
            try:
                _checkin, _stored, alerts = actions.submit_checkin(token=token, answers=answers)
            except actions.CheckInUnavailable:
                return _gone(request)
            except InvalidInputs as invalid:
                errors = {
                    error.field.replace(".", "__", 1): "Please check this answer."
                    for error in invalid.errors
                }
            else:
                request.session[DONE_KEY] = {"alert": bool(alerts), "at": int(time.time())}
                return redirect("checkin_thanks")
        urgent = _raises_urgent_flag(answers)
    blocks, total = _questionnaires(checkin, request.POST if errors else None, errors)
    return render(
        request,
        "assessments/checkin_answer.html",
        {
            "questionnaires": blocks,
            "total": total,
            "errors": errors,
            "urgent": urgent,
            "closes_at": checkin.expires_at,
            "crisis_lines": _crisis_lines(),
        },
        status=422 if errors else 200,
    )


@public
@patient_facing
def checkin_thanks(request):
    done = request.session.get(DONE_KEY)
    if done and time.time() - done.get("at", 0) > DONE_SECONDS:
        done = None
    return render(
        request,
        "assessments/checkin_thanks.html",
        {
            "answered": done is not None,
            "alert": bool(done and done.get("alert")),
            "crisis_lines": _crisis_lines(),
        },
    )


@public
@patient_facing
def crisis(request):
    return render(request, "assessments/crisis.html", {"crisis_lines": _crisis_lines()})


# ---------------------------------------------------------------------------------------------
# Staff pages


def _sendable_choices() -> list[tuple[str, str]]:
    return [(inst.id, f"{inst.short_name}: {inst.name}") for inst in actions.sendable_instruments()]


class SendForm(forms.Form):
    instruments = forms.MultipleChoiceField(
        label="Questionnaires", widget=forms.CheckboxSelectMultiple, required=False
    )
    timepoint = forms.ChoiceField(
        label="Point in the treatment", choices=Timepoint.choices, initial=Timepoint.OTHER
    )
    email = forms.BooleanField(label="E-mail the link to the patient", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instruments"].choices = _sendable_choices()


class ScheduleForm(forms.Form):
    plan = forms.ChoiceField(
        label="Schedule",
        widget=forms.RadioSelect,
        choices=[("default", "The clinic's plan"), ("custom", "One schedule of my choosing")],
        initial="default",
    )
    kind = forms.ChoiceField(
        label="When", choices=[("", "—"), *CheckInSchedule.Kind.choices], required=False
    )
    offset_hours = forms.IntegerField(
        label="Hours before or after the session",
        required=False,
        min_value=0,
        help_text="Before dosing: how long before the session the link goes (the clinic's "
        "default when blank). After dosing: how long after it. Blank for weekly.",
    )
    instruments = forms.MultipleChoiceField(
        label="Questionnaires", widget=forms.CheckboxSelectMultiple, required=False
    )
    starts_on = forms.DateField(
        label="Starting on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Dosing sessions from this day on; weekly check-ins on this weekday. "
        "Today when blank.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instruments"].choices = _sendable_choices()


def _short_name(instrument_id: str) -> str:
    try:
        return instruments.get(instrument_id).short_name
    except KeyError:
        return instrument_id


def _plan_text(plan: list[dict]) -> str:
    parts = []
    for entry in plan:
        names = ", ".join(_short_name(i) for i in entry["instruments"])
        if entry["kind"] == CheckInSchedule.Kind.BEFORE_DOSING:
            parts.append(f"{names} {entry['offset_hours']} h before every dosing session")
        else:
            parts.append(f"{names} {entry['offset_hours']} h after it")
    return "; ".join(parts)


def _read(request, patient: Patient, form: str) -> None:
    # The page names the patient, so showing it is a read of the record.
    record(actor=request.user, action="patient.view", target=patient, detail={"form": form})


@requires(P.CHECKIN_SEND)
def checkin_list(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    now = timezone.now()
    rows = []
    for checkin in patient.checkins.order_by("-due_at", "-id")[:200]:
        open_now = checkin.status == CheckIn.Status.PENDING and checkin.expires_at > now
        status = checkin.get_status_display()
        if checkin.status == CheckIn.Status.PENDING and not open_now:
            status = CheckIn.Status.EXPIRED.label
        rows.append(
            {
                "checkin": checkin,
                "instruments": ", ".join(_short_name(i) for i in checkin.instruments),
                "status": status,
                "open": open_now,
                "scheduled": checkin.schedule_id is not None,
            }
        )
    schedules = [
        {
            "schedule": schedule,
            "instruments": ", ".join(_short_name(i) for i in schedule.instruments),
        }
        for schedule in patient.checkin_schedules.order_by("ended_at", "-created_at")
    ]
    record(actor=request.user, action="patient.view", target=patient, detail={"page": "checkins"})
    return render(
        request,
        "assessments/checkin_list.html",
        {"patient": patient, "rows": rows, "schedules": schedules},
    )


@requires(P.CHECKIN_SEND)
def checkin_send(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    form = SendForm(request.POST or None, initial={"email": bool(patient.email)})
    if request.method == "POST" and form.is_valid():
        try:
            checkin, _token = actions.send_checkin(
                by=request.user, patient=patient, **form.cleaned_data
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            if form.cleaned_data["email"]:
                messages.success(request, "Link made; it is being e-mailed to the patient.")
            else:
                messages.success(request, "Link made.")
            return redirect("checkin_link", pk=patient.pk, checkin_id=checkin.pk)
    _read(request, patient, "checkin_send")
    return render(
        request,
        "assessments/checkin_send.html",
        {"form": form, "patient": patient},
        status=422 if form.errors else 200,
    )


@requires(P.CHECKIN_SEND)
@never_cache
def checkin_link(request, pk, checkin_id):
    """The link of a check-in still waiting, to read out or text. It is the same link each
    time (derived from the check-in's nonce), so each showing is recorded."""
    checkin = get_object_or_404(
        CheckIn.objects.select_related("patient"), pk=checkin_id, patient_id=pk
    )
    if checkin.status != CheckIn.Status.PENDING or checkin.expires_at <= timezone.now():
        raise Http404("this check-in is no longer open")
    # The address the patient's e-mail carries too (behind a proxy, not this request's host).
    link = settings.KAPSTONE_BASE_URL.rstrip("/") + reverse(
        "checkin_answer", args=[actions.link_token(checkin)]
    )
    record(
        actor=request.user,
        action="checkin.show_link",
        target=checkin,
        patient=checkin.patient,
        detail={"instruments": list(checkin.instruments)},
    )
    response = render(
        request,
        "assessments/checkin_link.html",
        {
            "patient": checkin.patient,
            "checkin": checkin,
            "link": link,
            "instruments": ", ".join(_short_name(i) for i in checkin.instruments),
        },
    )
    response["Referrer-Policy"] = "no-referrer"
    return response


@requires(P.CHECKIN_SEND)
@require_POST
def checkin_cancel(request, pk, checkin_id):
    checkin = get_object_or_404(CheckIn, pk=checkin_id, patient_id=pk)
    try:
        actions.cancel_checkin(by=request.user, checkin=checkin)
    except InvalidInput as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Check-in cancelled: its link no longer opens.")
    return redirect("checkin_list", pk=pk)


@requires(P.CHECKIN_SEND)
def schedule_new(request, pk):
    patient = get_object_or_404(Patient, pk=pk)
    plan = actions.default_plan()
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["plan"] == "default":
            entries = [{**entry, "starts_on": data["starts_on"]} for entry in plan]
        else:
            entries = [
                {
                    "kind": data["kind"],
                    "offset_hours": data["offset_hours"],
                    "instruments": data["instruments"],
                    "starts_on": data["starts_on"],
                }
            ]
        try:
            with transaction.atomic():
                for entry in entries:
                    actions.create_schedule(by=request.user, patient=patient, **entry)
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, "Schedule set." if len(entries) == 1 else "Schedules set.")
            return redirect("checkin_list", pk=patient.pk)
    _read(request, patient, "checkin_schedule")
    return render(
        request,
        "assessments/checkin_schedule.html",
        {"form": form, "patient": patient, "plan_text": _plan_text(plan)},
        status=422 if form.errors else 200,
    )


@requires(P.CHECKIN_SEND)
@require_POST
def schedule_end(request, pk, schedule_id):
    schedule = get_object_or_404(CheckInSchedule, pk=schedule_id, patient_id=pk)
    try:
        actions.end_schedule(by=request.user, schedule=schedule)
    except InvalidInput as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Schedule ended: links already sent stay open until they close.")
    return redirect("checkin_list", pk=pk)


urlpatterns = [
    # Listed before the link: "thanks" is never a token (tokens are 43 characters).
    path("c/thanks/", checkin_thanks, name="checkin_thanks"),
    path("c/<str:token>/", checkin_answer, name="checkin_answer"),
    path("crisis/", crisis, name="crisis"),
    path("patients/<int:pk>/checkins/", checkin_list, name="checkin_list"),
    path("patients/<int:pk>/checkins/new/", checkin_send, name="checkin_send"),
    path("patients/<int:pk>/checkins/<int:checkin_id>/link/", checkin_link, name="checkin_link"),
    path(
        "patients/<int:pk>/checkins/<int:checkin_id>/cancel/",
        checkin_cancel,
        name="checkin_cancel",
    ),
    path("patients/<int:pk>/checkins/schedule/", schedule_new, name="schedule_new"),
    path(
        "patients/<int:pk>/checkins/schedule/<int:schedule_id>/end/",
        schedule_end,
        name="schedule_end",
    ),
]
