import csv
from datetime import datetime, time

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.audit.models import AuditEvent
from kapstone.audit.recording import record
from kapstone.core.permissions import requires
from kapstone.patients.models import Patient


def _filtered(params):
    events = AuditEvent.objects.all()
    applied = {}
    if actor := params.get("actor", "").strip():
        events = events.filter(actor_username=actor)
        applied["actor"] = actor
    if action := params.get("action", "").strip():
        events = events.filter(action__startswith=action)
        applied["action"] = action
    if record_number := params.get("record", "").strip().upper():
        patient_id = (
            Patient.objects.filter(record_number=record_number).values_list("pk", flat=True).first()
        )
        events = events.filter(patient_id=patient_id if patient_id else -1)
        applied["record"] = record_number
    tz = timezone.get_current_timezone()
    for name, bound, lookup in (("since", time.min, "gte"), ("until", time.max, "lte")):
        if value := params.get(name, "").strip():
            try:
                day = datetime.strptime(value, "%Y-%m-%d").date()
            except ValueError:
                continue
            moment = timezone.make_aware(datetime.combine(day, bound), tz)
            events = events.filter(**{f"occurred_at__{lookup}": moment})
            applied[name] = value
    return events, applied


@requires(P.AUDIT_VIEW)
def audit_list(request):
    events, applied = _filtered(request.GET)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    # Show record numbers, not names: the audit reader is not treating these patients.
    ids = {e.patient_id for e in page.object_list if e.patient_id}
    numbers = dict(Patient.objects.filter(pk__in=ids).values_list("pk", "record_number"))
    record(actor=request.user, action="audit.view", detail={"filters": sorted(applied)})
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {"page": page, "numbers": numbers, "filters": applied, "query": query.urlencode()},
    )


def _cell(value):
    """A spreadsheet runs a cell starting with = + - or @ as a formula; make it plain text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


@requires(P.AUDIT_EXPORT)
def audit_export(request):
    events, applied = _filtered(request.GET)
    record(actor=request.user, action="audit.export", detail={"filters": sorted(applied)})
    writer = csv.writer(_Echo())
    columns = [
        "seq",
        "occurred_at",
        "actor_username",
        "actor_roles",
        "action",
        "target_type",
        "target_id",
        "patient_id",
        "ip_address",
        "hash",
    ]

    def rows():
        yield writer.writerow(columns)
        for row in events.order_by("seq").values_list(*columns).iterator(chunk_size=2000):
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response


urlpatterns = [
    path("", audit_list, name="audit_list"),
    path("export.csv", audit_export, name="audit_export"),
]
