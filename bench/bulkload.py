"""Load many demo-like patients quickly, for benchmarks.

The demo builder registers each patient through the audited action functions, one
transaction per row: right for a demo, but minutes per ten thousand patients, most of a
benchmark's run. This loader writes
the same kinds of rows with bulk_create, and the audit events the actions would have
written, chained onto the existing trail, so the database a benchmark reads looks like one
a clinic would have: same tables, similar sizes, an audit trail that still verifies.

History per patient: 2 measurements, 1-2 contacts, allergies for about 30% (the rest
recorded as "no known allergies"), 0-3 current medications, 1-2 diagnoses, 0-4 past
medication trials, 0-2 past psychotherapy courses.

Needs Django set up (DJANGO_SETTINGS_MODULE) and the demo clinic built (`kapstone demo`).
"""

import random
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from faker import Faker

from kapstone.audit import chain
from kapstone.audit.models import AuditChainHead, AuditEvent
from kapstone.audit.recording import TS_FORMAT
from kapstone.clinical import icd10, units
from kapstone.clinical.demographics import format_record_number, normalise_name
from kapstone.core.models import Organization, Site
from kapstone.demo.builder import (
    ALLERGENS,
    COMORBID,
    CURRENT_MEDS,
    DIAGNOSES,
    MODALITIES,
    RELATIONSHIPS,
    RESPONSES_FAILED,
    TRIAL_DRUGS,
)
from kapstone.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    MedicationStatement,
    MedicationTrial,
    Patient,
    PatientContact,
    PsychotherapyCourse,
)
from kapstone.staff.models import User

BATCH = 500
SIDE_EFFECTS = ["", "", "Nausea", "Sexual side effects", "Fatigue", "Emotional blunting"]


class _Actor:
    """The audit fields of a staff member, worked out once."""

    def __init__(self, username: str):
        user = User.objects.prefetch_related("role_rows").get(username=username)
        self.pk = user.pk
        self.fields = {
            "actor_id": user.pk,
            "actor_username": user.username,
            "actor_roles": ",".join(sorted(role.value for role in user.roles)),
        }


def _event(actor: _Actor, action: str, target, patient_id: int, detail=None) -> dict:
    return {
        **actor.fields,
        "action": action,
        "target_type": target._meta.label_lower,
        "target_id": str(target.pk),
        "patient_id": patient_id,
        "ip_address": "",
        "detail": detail or {},
    }


def _weighted(rng: random.Random, pairs):
    codes, weights = zip(*pairs, strict=True)
    return rng.choices(codes, weights=weights, k=1)[0]


class _Batch:
    """Rows for a batch of patients, kept per patient so the audit events come out in the
    order the actions would have written them."""

    def __init__(self):
        self.patients: list[Patient] = []
        self.history: list[list[tuple[str, object, _Actor, dict | None]]] = []

    def add(self, patient: Patient):
        self.patients.append(patient)
        self.history.append([])

    def row(self, action: str, obj, actor: _Actor, detail=None):
        self.history[-1].append((action, obj, actor, detail))


def load(count: int, *, seed: int, start_index: int = 0) -> dict[str, int]:
    """Add `count` patients with histories; return how many rows of each kind were written."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    sites = list(Site.objects.filter(active=True).order_by("pk"))
    front, nurse = _Actor("frontdesk"), _Actor("nurse")
    prescriber, therapist = _Actor("drmorgan"), _Actor("therapist")
    config = Organization.current().config
    weight_bounds, height_bounds = config.bounds("weight_kg"), config.bounds("height_cm")
    descriptions = {code: icd10.describe(code) for code, _ in DIAGNOSES}
    descriptions.update({code: icd10.describe(code) for code in COMORBID})
    today = timezone.localdate()
    written: dict[str, int] = {}

    for batch_start in range(start_index, start_index + count, BATCH):
        batch_end = min(batch_start + BATCH, start_index + count)
        batch = _Batch()
        for index in range(batch_start, batch_end):
            _make_patient(rng, fake, batch, index, sites, today)
            _make_history(
                rng,
                fake,
                batch,
                today,
                weight_bounds,
                height_bounds,
                descriptions,
                actors=(nurse, prescriber, therapist),
            )
        with transaction.atomic():
            _save(batch, front, written)
    return written


def _make_patient(rng, fake, batch: _Batch, index: int, sites, today):
    sex = rng.choice(
        ["female", "female", "male", "male", "intersex"]
        if index % 40 == 7
        else ["female", "female", "female", "male", "male"]
    )
    first = fake.first_name_female() if sex == "female" else fake.first_name_male()
    last = fake.last_name()
    preferred = rng.choice(["", "", "", "", first[:3]]) if len(first) > 4 else ""
    age = rng.randint(19, 74)
    patient = Patient(
        first_name=first,
        last_name=last,
        preferred_name=preferred,
        first_name_norm=normalise_name(first),
        last_name_norm=normalise_name(last),
        preferred_name_norm=normalise_name(preferred),
        date_of_birth=today - timedelta(days=age * 365 + rng.randint(0, 364)),
        sex_at_birth=sex,
        pronouns={"female": "she/her", "male": "he/him"}.get(sex, "they/them"),
        phone=f"207-555-01{rng.randint(0, 99):02d}",
        email=f"{first.lower()}.{last.lower()}{index}@example.com",
        address_line1=fake.street_address(),
        city=fake.city(),
        state="ME",
        postal_code=f"04{rng.randint(0, 999):03d}",
        home_site=sites[index % len(sites)] if sites else None,
        no_known_allergies=False,
    )
    batch.add(patient)


def _make_history(rng, fake, batch, today, weight_bounds, height_bounds, descriptions, actors):
    nurse, prescriber, therapist = actors
    patient = batch.patients[-1]
    in_lb = rng.random() < 0.5
    kg = Decimal(rng.randint(480, 1150)) / 10
    height = Decimal(rng.randint(152, 193))
    for months_ago in sorted(rng.sample(range(1, 12), k=2), reverse=True):
        entered = (kg / units.KG_PER_LB).quantize(Decimal("0.1"), ROUND_HALF_UP) if in_lb else kg
        measurement = BodyMeasurement(
            patient=patient,
            measured_at=timezone.make_aware(
                datetime.combine(today - timedelta(days=30 * months_ago), time(10, 0))
            ),
            weight_kg=units.weight_to_kg(entered, "lb" if in_lb else "kg", weight_bounds),
            weight_unit_entered="lb" if in_lb else "kg",
            height_cm=units.height_to_cm(height, "cm", height_bounds),
            height_unit_entered="cm",
            recorded_by_id=nurse.pk,
        )
        batch.row("measurement.create", measurement, nurse, {"fields": ["weight_kg", "height_cm"]})
        kg += Decimal(rng.randint(-15, 15)) / 10

    for n in range(rng.choice([1, 1, 2])):
        contact = PatientContact(
            patient=patient,
            name=fake.name(),
            relationship=rng.choice(RELATIONSHIPS),
            phone=f"207-555-01{rng.randint(0, 99):02d}",
            is_emergency_contact=n == 0,
            is_escort=n > 0 or rng.random() < 0.85,
        )
        detail = {"emergency": contact.is_emergency_contact, "escort": contact.is_escort}
        batch.row("contact.create", contact, nurse, detail)

    if rng.random() < 0.3:
        for substance, reaction, severity in rng.sample(ALLERGENS, k=rng.randint(1, 2)):
            allergy = Allergy(
                patient=patient, substance=substance, reaction=reaction, severity=severity
            )
            batch.row("allergy.create", allergy, nurse)
    else:
        patient.no_known_allergies = True
        batch.row("allergy.none_known", patient, nurse)

    for name, drug_class, dose, frequency in rng.sample(CURRENT_MEDS, k=rng.randint(0, 3)):
        medication = MedicationStatement(
            patient=patient,
            name=name,
            drug_class=drug_class,
            dose=dose,
            frequency=frequency,
            started_on=today - timedelta(days=rng.randint(30, 900)),
        )
        batch.row("medication.create", medication, nurse)

    primary = _weighted(rng, DIAGNOSES)
    codes = [primary]
    if rng.random() < 0.45:
        codes.append(rng.choice([c for c, _ in DIAGNOSES if c != primary] + COMORBID))
    for code in codes:
        diagnosis = Diagnosis(
            patient=patient,
            code=code,
            description=descriptions[code],
            is_primary=code == primary,
            diagnosed_on=today - timedelta(days=rng.randint(200, 4000))
            if code == primary
            else None,
            recorded_by_id=prescriber.pk,
        )
        detail = {"code": code, "primary": code == primary}
        batch.row("diagnosis.create", diagnosis, prescriber, detail)

    for drug, drug_class, max_dose in rng.sample(TRIAL_DRUGS, k=rng.randint(0, 4)):
        trial = MedicationTrial(
            patient=patient,
            drug=drug,
            drug_class=drug_class,
            max_daily_dose_mg=max_dose,
            weeks=rng.choice([3, 4, 6, 8, 10, 12, 16, 26]),
            adequate_dose=rng.random() < 0.75,
            response=rng.choice(RESPONSES_FAILED),
            side_effects=rng.choice(SIDE_EFFECTS),
            started_on=today - timedelta(days=rng.randint(400, 3000)),
        )
        batch.row("medication_trial.create", trial, prescriber)

    for modality in rng.sample(MODALITIES, k=rng.randint(0, 2)):
        course = PsychotherapyCourse(
            patient=patient,
            modality=modality,
            sessions=rng.choice([4, 6, 8, 12, 16, 20]),
            response=rng.choice(["none", "partial", "partial", "response"]),
            ended_on=today - timedelta(days=rng.randint(90, 2000)),
        )
        batch.row("psychotherapy_course.create", course, therapist)


# The fields register_patient names in its audit event when they are filled in.
_CREATED_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "date_of_birth",
    "sex_at_birth",
    "pronouns",
    "phone",
    "email",
    "address_line1",
    "city",
    "state",
    "postal_code",
    "home_site",
)


def _save(batch: _Batch, front: _Actor, written: dict[str, int]):
    # Record numbers and the audit chain are taken under the same locks the actions use.
    org = Organization.objects.select_for_update().get(pk=Organization.current().pk)
    for patient in batch.patients:
        patient.record_number = format_record_number(org.next_record_number)
        org.next_record_number += 1
    Patient.objects.bulk_create(batch.patients)
    org.save(update_fields=["next_record_number"])
    written["patients"] = written.get("patients", 0) + len(batch.patients)

    by_model: dict[type, list] = {}
    for rows in batch.history:
        for _, obj, _, _ in rows:
            if not isinstance(obj, Patient):
                obj.patient_id = obj.patient.pk
                by_model.setdefault(type(obj), []).append(obj)
    for model, objs in by_model.items():
        model.objects.bulk_create(objs)
        name = model._meta.model_name
        written[name] = written.get(name, 0) + len(objs)

    events = []
    for patient, rows in zip(batch.patients, batch.history, strict=True):
        fields = sorted(f for f in _CREATED_FIELDS if getattr(patient, f) not in ("", None))
        events.append(_event(front, "patient.create", patient, patient.pk, {"fields": fields}))
        events.extend(
            _event(actor, action, obj, patient.pk, detail) for action, obj, actor, detail in rows
        )
    written["auditevent"] = written.get("auditevent", 0) + _append_events(events)


def _append_events(rows: list[dict]) -> int:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, seq=0, hash=chain.GENESIS)
    seq, prev = head.seq, head.hash
    now = timezone.now()
    events = []
    for row in rows:
        seq += 1
        fields = {
            **row,
            "seq": seq,
            "occurred_at": now.astimezone(UTC).strftime(TS_FORMAT),
            "prev_hash": prev,
        }
        fields["hash"] = prev = chain.event_hash(fields)
        events.append(AuditEvent(**{**fields, "occurred_at": now}))
    AuditEvent.objects.bulk_create(events, batch_size=2000)
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return len(events)
