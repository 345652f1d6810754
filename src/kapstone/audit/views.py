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
    patient_id = None
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
        # Events naming the patient, and list pages that showed them among others.
        events = events.naming_patient(patient_id if patient_id else -1)
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
    return events, applied, patient_id


def _record_labels(events, filtered_patient) -> dict[int, str]:
    """What the Record column shows per event: the record number of the patient it names,
    or for a list page the number of patients it showed (and the one filtered for)."""
    listed = {e.seq: e.detail.get("patients") or [] for e in events if not e.patient_id}
    ids = {e.patient_id for e in events if e.patient_id}
    if filtered_patient:
        ids.add(filtered_patient)
    numbers = dict(Patient.objects.filter(pk__in=ids).values_list("pk", "record_number"))
    labels = {}
    for event in events:
        if event.patient_id:
            labels[event.seq] = numbers.get(event.patient_id, "")
        elif patients := listed.get(event.seq):
            count = f"{len(patients)} patient{'s' if len(patients) != 1 else ''}"
            if filtered_patient in patients:
                count = f"{numbers.get(filtered_patient, '')} among {count}"
            labels[event.seq] = count
    return labels


@requires(P.AUDIT_VIEW)
def audit_list(request):
    events, applied, patient_id = _filtered(request.GET)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    # Show record numbers, not names: the audit reader is not treating these patients.
    records = _record_labels(list(page.object_list), patient_id)
    record(actor=request.user, action="audit.view", detail={"filters": sorted(applied)})
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {"page": page, "records": records, "filters": applied, "query": query.urlencode()},
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
    events, applied, _ = _filtered(request.GET)
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
        # Last, the patients a list page showed (ids, space-separated), from the event's detail.
        yield writer.writerow([*columns, "patients_listed"])
        values = events.order_by("seq").values_list(*columns, "detail")
        for *row, detail in values.iterator(chunk_size=2000):
            listed = detail.get("patients") if isinstance(detail, dict) else None
            row.append(" ".join(str(pk) for pk in listed) if listed else "")
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response


urlpatterns = [
    path("", audit_list, name="audit_list"),
    path("export.csv", audit_export, name="audit_export"),
]
