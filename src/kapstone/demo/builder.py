"""A realistic demo clinic, the same every time for the same seed.

Everything is made through the action functions, so the demo's audit trail is real too.
Names, addresses and phone numbers are fictitious (Faker, seeded); phone numbers use the
555-01xx range reserved for fiction.
"""

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from faker import Faker

from kapstone.access.roles import Role, needs_two_factor
from kapstone.core.models import Organization, Room, Site
from kapstone.ledger.demo import build_ledger
from kapstone.patients import actions
from kapstone.staff.actions import create_staff
from kapstone.staff.models import User

DEMO_PASSWORD = "kapstone-demo-2026"


@dataclass(frozen=True)
class DemoStaff:
    username: str
    first: str
    last: str
    credentials: str
    roles: tuple[Role, ...]


STAFF = [
    DemoStaff("drmorgan", "Elena", "Morgan", "MD", (Role.PRESCRIBER,)),
    DemoStaff("drokafor", "Samuel", "Okafor", "DO", (Role.PRESCRIBER,)),
    DemoStaff("nurse", "Priya", "Natarajan", "RN", (Role.NURSE,)),
    DemoStaff("nurse2", "Tom", "Becker", "RN", (Role.NURSE,)),
    DemoStaff("therapist", "Grace", "Lindqvist", "LMFT", (Role.THERAPIST,)),
    DemoStaff("therapist2", "Marcus", "Webb", "PsyD", (Role.THERAPIST,)),
    DemoStaff("frontdesk", "Jordan", "Reyes", "", (Role.FRONT_DESK,)),
    DemoStaff("billing", "Dana", "Kim", "", (Role.BILLING,)),
    DemoStaff("researcher", "Alex", "Hart", "PhD", (Role.RESEARCHER,)),
    DemoStaff("admin", "Chris", "Avery", "", (Role.CLINIC_ADMIN,)),
]


# Deterministic per-user TOTP keys so the demo's second factor can be set up once in an
# authenticator app and still work after the demo is rebuilt. Demo only.
def demo_totp_key(seed: int, username: str) -> str:
    rng = random.Random(f"{seed}:{username}")
    return "".join(f"{rng.randrange(256):02x}" for _ in range(20))


# (code, weight) pairs: what an anxiety-focused KAP clinic sees.
DIAGNOSES = [
    ("F41.1", 30),
    ("F43.10", 18),
    ("F41.0", 12),
    ("F40.10", 10),
    ("F40.01", 6),
    ("F43.12", 8),
    ("F40.11", 5),
    ("F40.243", 3),
    ("F41.8", 3),
]
COMORBID = ["F33.1", "F32.1", "F51.01", "F10.10"]

TRIAL_DRUGS = [
    ("Sertraline", "ssri", Decimal(150)),
    ("Escitalopram", "ssri", Decimal(20)),
    ("Fluoxetine", "ssri", Decimal(40)),
    ("Paroxetine", "ssri", Decimal(40)),
    ("Venlafaxine XR", "snri", Decimal(225)),
    ("Duloxetine", "snri", Decimal(60)),
    ("Buspirone", "buspirone", Decimal(30)),
    ("Pregabalin", "gabapentinoid", Decimal(300)),
    ("Clonazepam", "benzodiazepine", Decimal(1)),
    ("Propranolol", "beta_blocker", Decimal(40)),
    ("Quetiapine", "antipsychotic", Decimal(150)),
    ("Hydroxyzine", "antihistamine", Decimal(50)),
]
CURRENT_MEDS = [
    ("Sertraline", "ssri", "100 mg", "once daily"),
    ("Escitalopram", "ssri", "10 mg", "once daily"),
    ("Bupropion XL", "other", "150 mg", "once daily"),
    ("Lorazepam", "benzodiazepine", "0.5 mg", "as needed"),
    ("Propranolol", "beta_blocker", "10 mg", "as needed"),
    ("Lisinopril", "other", "10 mg", "once daily"),
    ("Levothyroxine", "other", "50 mcg", "once daily"),
    ("Trazodone", "other", "50 mg", "at bedtime"),
]
ALLERGENS = [
    ("Penicillin", "Hives", "moderate"),
    ("Sulfa drugs", "Rash", "mild"),
    ("Latex", "Contact dermatitis", "mild"),
    ("Codeine", "Nausea and vomiting", "moderate"),
    ("Shellfish", "Anaphylaxis", "severe"),
]
MODALITIES = ["cbt", "exposure", "emdr", "act", "psychodynamic", "ifs", "dbt"]
RESPONSES_FAILED = ["none", "partial", "partial", "none", "not_tolerated", "response"]
RELATIONSHIPS = ["Spouse", "Partner", "Sister", "Brother", "Parent", "Friend", "Adult child"]


def _weighted(rng: random.Random, pairs):
    codes, weights = zip(*pairs, strict=True)
    return rng.choices(codes, weights=weights, k=1)[0]


@transaction.atomic
def build_clinic(seed: int) -> dict:
    org = Organization.current()
    org.name = "Harbor Light Ketamine & Psychotherapy"
    org.is_demo = True
    org.save()
    main, _ = Site.objects.get_or_create(
        code="downtown",
        defaults={
            "organization": org,
            "name": "Downtown clinic",
            "address": "100 Harbor Street, Suite 400, Portland, ME 04101",
            "phone": "207-555-0100",
            # A made-up number with a valid check digit (demo only).
            "dea_registration": "FH1234563",
        },
    )
    second, _ = Site.objects.get_or_create(
        code="westside",
        defaults={
            "organization": org,
            "name": "Westside clinic",
            "address": "22 Elm Avenue, South Portland, ME 04106",
            "phone": "207-555-0150",
            "dea_registration": "FH2345672",
        },
    )
    for site, rooms in (
        (
            main,
            [
                ("Dosing 1", "dosing"),
                ("Dosing 2", "dosing"),
                ("Dosing 3", "dosing"),
                ("Therapy A", "therapy"),
                ("Therapy B", "therapy"),
                ("Recovery", "recovery"),
            ],
        ),
        (second, [("Dosing 1", "dosing"), ("Dosing 2", "dosing"), ("Therapy", "therapy")]),
    ):
        for name, kind in rooms:
            Room.objects.get_or_create(site=site, name=name, defaults={"kind": kind})

    logins = []
    for member in STAFF:
        user = User.objects.filter(username=member.username).first()
        if user is None:
            user = create_staff(
                by=None,
                username=member.username,
                password=DEMO_PASSWORD,
                roles=list(member.roles),
                first_name=member.first,
                last_name=member.last,
                email=f"{member.username}@example.org",
                credentials=member.credentials,
                sites=[main, second] if member.username != "nurse2" else [second],
            )
        if needs_two_factor(member.roles):
            TOTPDevice.objects.get_or_create(
                user=user,
                name="demo authenticator",
                defaults={"key": demo_totp_key(seed, member.username), "confirmed": True},
            )
        logins.append(member)
    return {"organization": org, "sites": [main, second], "staff": logins}


def build_patients(seed: int, count: int, *, start_index: int = 0) -> int:
    """Register `count` patients with histories. Returns how many were made."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    sites = list(Site.objects.filter(active=True).order_by("pk"))
    front = User.objects.get(username="frontdesk")
    nurse = User.objects.get(username="nurse")
    prescriber = User.objects.get(username="drmorgan")
    therapist = User.objects.get(username="therapist")
    today = timezone.localdate()
    made = 0
    for index in range(start_index, start_index + count):
        sex = rng.choice(
            ["female", "female", "male", "male", "intersex"]
            if index % 40 == 7
            else ["female", "female", "female", "male", "male"]
        )
        first = fake.first_name_female() if sex == "female" else fake.first_name_male()
        last = fake.last_name()
        age = rng.randint(19, 74)
        dob = today - timedelta(days=age * 365 + rng.randint(0, 364))
        with transaction.atomic():
            patient = actions.register_patient(
                by=front,
                first_name=first,
                last_name=last,
                preferred_name=rng.choice(["", "", "", "", first[:3]]) if len(first) > 4 else "",
                date_of_birth=dob,
                sex_at_birth=sex,
                pronouns={"female": "she/her", "male": "he/him"}.get(sex, "they/them"),
                phone=f"207-555-01{rng.randint(0, 99):02d}",
                email=f"{first.lower()}.{last.lower()}{index}@example.com",
                address_line1=fake.street_address(),
                city=fake.city(),
                state="ME",
                postal_code=f"04{rng.randint(0, 999):03d}",
                home_site=sites[index % len(sites)] if sites else None,
            )
            _history(rng, fake, patient, nurse, prescriber, therapist, today)
        made += 1
    build_ledger(seed, DEMO_PASSWORD)
    return made


def _history(rng, fake, patient, nurse, prescriber, therapist, today):
    in_lb = rng.random() < 0.5
    kg = Decimal(rng.randint(480, 1150)) / 10
    height_cm = Decimal(rng.randint(152, 193))
    for months_ago in sorted(rng.sample(range(12), k=rng.randint(1, 3)), reverse=True):
        weight = (kg / Decimal("0.45359237")).quantize(Decimal("0.1")) if in_lb else kg
        moment = min(
            timezone.now(),
            timezone.make_aware(
                datetime.combine(today - timedelta(days=30 * months_ago), time(10, 0))
            ),
        )
        actions.record_measurement(
            by=nurse,
            patient=patient,
            weight=weight,
            weight_unit="lb" if in_lb else "kg",
            height=height_cm,
            height_unit="cm",
            measured_at=moment,
        )
        kg += Decimal(rng.randint(-15, 15)) / 10
    escort_name = fake.name()
    actions.add_contact(
        by=nurse,
        patient=patient,
        name=escort_name,
        relationship=rng.choice(RELATIONSHIPS),
        phone=f"207-555-01{rng.randint(0, 99):02d}",
        is_emergency_contact=True,
        is_escort=rng.random() < 0.85,
    )
    if rng.random() < 0.3:
        for substance, reaction, severity in rng.sample(ALLERGENS, k=rng.randint(1, 2)):
            actions.add_allergy(
                by=nurse,
                patient=patient,
                substance=substance,
                reaction=reaction,
                severity=severity,
            )
    else:
        actions.record_no_known_allergies(by=nurse, patient=patient)
    for name, drug_class, dose, frequency in rng.sample(CURRENT_MEDS, k=rng.randint(0, 3)):
        actions.add_medication(
            by=nurse,
            patient=patient,
            name=name,
            drug_class=drug_class,
            dose=dose,
            frequency=frequency,
            started_on=today - timedelta(days=rng.randint(30, 900)),
        )
    primary = _weighted(rng, DIAGNOSES)
    actions.add_diagnosis(
        by=prescriber,
        patient=patient,
        code=primary,
        is_primary=True,
        diagnosed_on=today - timedelta(days=rng.randint(200, 4000)),
    )
    if rng.random() < 0.45:
        extra = rng.choice([c for c, _ in DIAGNOSES if c != primary] + COMORBID)
        actions.add_diagnosis(by=prescriber, patient=patient, code=extra)
    for drug, drug_class, max_dose in rng.sample(TRIAL_DRUGS, k=rng.randint(0, 4)):
        actions.add_medication_trial(
            by=prescriber,
            patient=patient,
            drug=drug,
            drug_class=drug_class,
            max_daily_dose_mg=max_dose,
            weeks=rng.choice([3, 4, 6, 8, 10, 12, 16, 26]),
            adequate_dose=rng.random() < 0.75,
            response=rng.choice(RESPONSES_FAILED),
            side_effects=rng.choice(
                [
                    "",
                    "",
                    "Nausea",
                    "Sexual side effects",
                    "Fatigue",
                    "Emotional blunting",
                    "Weight gain",
                ]
            ),
            started_on=today - timedelta(days=rng.randint(400, 3000)),
        )
    for modality in rng.sample(MODALITIES, k=rng.randint(0, 2)):
        actions.add_psychotherapy_course(
            by=therapist,
            patient=patient,
            modality=modality,
            sessions=rng.choice([4, 6, 8, 12, 16, 20]),
            response=rng.choice(["none", "partial", "partial", "response"]),
            ended_on=today - timedelta(days=rng.randint(90, 2000)),
        )
