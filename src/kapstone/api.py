"""The JSON API for other systems: token authentication, the same permissions and audit
as the pages, and an OpenAPI document at /api/openapi.json."""

import hmac
from datetime import date, timedelta
from functools import wraps

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from kapstone.access.roles import Permission as P
from kapstone.audit.recording import record, record_reads
from kapstone.core.models import Organization, Site
from kapstone.core.permissions import PERMISSION_ATTR, has_permission
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.patients import actions, queries
from kapstone.patients.models import Patient
from kapstone.staff.models import ApiToken, User

_TOUCH_EVERY = timedelta(minutes=1)


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        try:
            _, prefix, secret = token.split("_", 2)
        except ValueError:
            return None
        row = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if row is None or not _same(row.key_hash, ApiToken.hash_key(secret)):
            return None
        now = timezone.now()
        if row.expires_at is not None and row.expires_at <= now:
            return None
        user = User.objects.prefetch_related("role_rows").filter(pk=row.user_id).first()
        if user is None or not user.is_active:
            return None
        if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = user
        return user


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


api = NinjaAPI(
    title="Kapstone API",
    version="1",
    description="Patient records for systems that work with a Kapstone clinic. "
    "Authenticate with 'Authorization: Bearer <token>'.",
    auth=TokenAuth(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url=None,
)


def api_requires(permission: P):
    """Mark an operation with the permission it needs and check it before running."""

    def decorator(fn):
        @wraps(fn)
        def wrapped(request, *args, **kwargs):
            if not has_permission(request.user, permission):
                record(
                    actor=request.user,
                    action="access.denied",
                    detail={
                        "permission": str(permission),
                        "operation": fn.__name__,
                        "object_id": str(kwargs.get("patient_id", "")),
                    },
                )
                raise AccessDenied(permission)
            return fn(request, *args, **kwargs)

        setattr(wrapped, PERMISSION_ATTR, permission)
        return wrapped

    return decorator


@api.exception_handler(AccessDenied)
def _denied(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(InvalidInput)
def _invalid(request, exc):
    return api.create_response(
        request, {"errors": [{"field": exc.field, "message": exc.message}]}, status=422
    )


@api.exception_handler(InvalidInputs)
def _invalid_many(request, exc):
    errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    return api.create_response(request, {"errors": errors}, status=422)


@api.exception_handler(NinjaValidationError)
def _schema_invalid(request, exc):
    # Name the field and the rule; leave out the submitted value, which may be patient data.
    def field(location) -> str:
        # ("body", "payload", "date_of_birth") -> "date_of_birth": the same name the clinic's
        # own rules use; ("query", "page") -> "page".
        parts = [str(p) for p in location]
        parts = parts[2:] if parts[:1] == ["body"] else parts[1:]
        return ".".join(parts) or "body"

    errors = [{"field": field(e.get("loc", ())), "message": e["msg"]} for e in exc.errors]
    return api.create_response(request, {"errors": errors}, status=422)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return api.create_response(request, {"detail": "a valid API token is required"}, status=401)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return api.create_response(request, {"detail": "not found"}, status=404)


class PatientSummary(Schema):
    id: int
    record_number: str
    first_name: str
    last_name: str
    preferred_name: str
    date_of_birth: date
    sex_at_birth: str


class PatientPage(Schema):
    count: int
    page: int
    pages: int
    results: list[PatientSummary]


class ContactOut(Schema):
    id: int
    name: str
    relationship: str
    phone: str
    email: str
    is_emergency_contact: bool
    is_escort: bool


class PatientDetail(PatientSummary):
    gender_identity: str
    pronouns: str
    phone: str
    email: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    home_site_id: int | None
    contacts: list[ContactOut]


class PatientIn(Schema):
    first_name: str
    last_name: str
    date_of_birth: date
    sex_at_birth: str
    preferred_name: str = ""
    gender_identity: str = ""
    pronouns: str = ""
    phone: str = ""
    email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    home_site_id: int | None = None
    weight: str | None = None
    weight_unit: str = "kg"
    height: str | None = None
    height_unit: str = "cm"


class PatientPatch(Schema):
    first_name: str | None = None
    last_name: str | None = None
    preferred_name: str | None = None
    date_of_birth: date | None = None
    sex_at_birth: str | None = None
    gender_identity: str | None = None
    pronouns: str | None = None
    phone: str | None = None
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class DiagnosisOut(Schema):
    id: int
    code: str
    description: str
    status: str
    is_primary: bool
    diagnosed_on: date | None


class DiagnosisIn(Schema):
    code: str
    is_primary: bool = False
    diagnosed_on: date | None = None


class MeasurementIn(Schema):
    weight: str | None = None
    weight_unit: str = "kg"
    height: str | None = None
    height_unit: str = "cm"


class MeasurementOut(Schema):
    id: int
    measured_at: str
    weight_kg: str | None
    height_cm: str | None


class AllergyOut(Schema):
    substance: str
    reaction: str
    severity: str
    active: bool


class MedicationOut(Schema):
    name: str
    drug_class: str
    dose: str
    frequency: str
    started_on: date | None
    stopped_on: date | None


class TrialOut(Schema):
    drug: str
    drug_class: str
    max_daily_dose_mg: str | None
    weeks: int
    adequate_dose: bool
    response: str


class CourseOut(Schema):
    modality: str
    sessions: int
    response: str


class ResistanceOut(Schema):
    failed_medication_trials: int
    failed_psychotherapy_courses: int
    failed_drug_classes: list[str]
    meets_clinic_definition: bool


class ClinicalOut(Schema):
    no_known_allergies: bool
    allergies: list[AllergyOut]
    medications: list[MedicationOut]
    measurements: list[MeasurementOut]
    medication_trials: list[TrialOut]
    psychotherapy_courses: list[CourseOut]
    treatment_resistance: ResistanceOut


def _measurement_out(m) -> dict:
    return {
        "id": m.pk,
        "measured_at": m.measured_at.isoformat(),
        "weight_kg": str(m.weight_kg) if m.weight_kg is not None else None,
        "height_cm": str(m.height_cm) if m.height_cm is not None else None,
    }


def _site(site_id):
    if site_id is None:
        return None
    site = Site.objects.filter(pk=site_id, active=True).first()
    if site is None:
        raise InvalidInput("home_site_id", "is not an active site of this clinic")
    return site


@api.get("/patients", response=PatientPage, tags=["patients"])
@api_requires(P.PATIENT_VIEW_DEMOGRAPHICS)
def list_patients(request, q: str = "", page: int = 1):
    """Search by record number, date of birth (YYYY-MM-DD) or the start of a name."""
    paginator = Paginator(queries.search(q), 25)
    current = paginator.get_page(page)
    shown = list(current.object_list)
    record_reads(
        actor=request.user, action="patient.list", targets=shown, detail={"searched": bool(q)}
    )
    return {
        "count": paginator.count,
        "page": current.number,
        "pages": paginator.num_pages,
        "results": shown,
    }


@api.post("/patients", response={201: PatientDetail}, tags=["patients"])
@api_requires(P.PATIENT_REGISTER)
def create_patient(request, payload: PatientIn):
    data = payload.dict()
    data["home_site"] = _site(data.pop("home_site_id"))
    patient = actions.register_patient(by=request.user, **data)
    return queries.chart(patient.pk)


@api.get("/patients/{patient_id}", response=PatientDetail, tags=["patients"])
@api_requires(P.PATIENT_VIEW_DEMOGRAPHICS)
def get_patient(request, patient_id: int):
    patient = get_object_or_404(Patient.objects.prefetch_related("contacts"), pk=patient_id)
    record(actor=request.user, action="patient.view", target=patient, detail={"via": "api"})
    return patient


@api.patch("/patients/{patient_id}", response=PatientDetail, tags=["patients"])
@api_requires(P.PATIENT_EDIT_DEMOGRAPHICS)
def update_patient(request, patient_id: int, payload: PatientPatch):
    patient = get_object_or_404(Patient, pk=patient_id)
    changes = payload.dict(exclude_unset=True)
    changed = actions.update_demographics(by=request.user, patient=patient, **changes)
    if not changed:
        # Nothing was written, but the whole record goes back: that is a read.
        record(actor=request.user, action="patient.view", target=patient, detail={"via": "api"})
    return Patient.objects.prefetch_related("contacts").get(pk=patient_id)


@api.get("/patients/{patient_id}/clinical", response=ClinicalOut, tags=["clinical"])
@api_requires(P.PATIENT_VIEW_CLINICAL)
def get_clinical(request, patient_id: int):
    try:
        patient = queries.chart(patient_id)
    except Patient.DoesNotExist:
        raise Http404 from None
    record(
        actor=request.user,
        action="patient.view",
        target=patient,
        detail={"via": "api", "sections": ["clinical"]},
    )
    summary = queries.resistance_summary(patient, Organization.current().config)
    return {
        "no_known_allergies": patient.no_known_allergies,
        "allergies": list(patient.allergies.all()),
        "medications": list(patient.medications.all()),
        "measurements": [_measurement_out(m) for m in patient.recent_measurements],
        "medication_trials": [
            {
                **{k: getattr(t, k) for k in ("drug", "drug_class", "weeks", "adequate_dose")},
                "response": t.response,
                "max_daily_dose_mg": str(t.max_daily_dose_mg) if t.max_daily_dose_mg else None,
            }
            for t in patient.medication_trials.all()
        ],
        "psychotherapy_courses": list(patient.psychotherapy_courses.all()),
        "treatment_resistance": {
            "failed_medication_trials": len(summary.failed_medication_trials),
            "failed_psychotherapy_courses": len(summary.failed_psychotherapy_courses),
            "failed_drug_classes": list(summary.failed_drug_classes),
            "meets_clinic_definition": summary.meets_definition,
        },
    }


@api.get("/patients/{patient_id}/diagnoses", response=list[DiagnosisOut], tags=["clinical"])
@api_requires(P.PATIENT_VIEW_DIAGNOSES)
def list_diagnoses(request, patient_id: int):
    patient = get_object_or_404(Patient, pk=patient_id)
    record(
        actor=request.user,
        action="patient.view",
        target=patient,
        detail={"via": "api", "sections": ["diagnoses"]},
    )
    return list(patient.diagnoses.all())


@api.post("/patients/{patient_id}/diagnoses", response={201: DiagnosisOut}, tags=["clinical"])
@api_requires(P.PATIENT_EDIT_DIAGNOSES)
def add_diagnosis(request, patient_id: int, payload: DiagnosisIn):
    patient = get_object_or_404(Patient, pk=patient_id)
    return actions.add_diagnosis(by=request.user, patient=patient, **payload.dict())


@api.post("/patients/{patient_id}/measurements", response={201: MeasurementOut}, tags=["clinical"])
@api_requires(P.PATIENT_EDIT_CLINICAL)
def add_measurement(request, patient_id: int, payload: MeasurementIn):
    patient = get_object_or_404(Patient, pk=patient_id)
    measurement = actions.record_measurement(by=request.user, patient=patient, **payload.dict())
    return _measurement_out(measurement)
