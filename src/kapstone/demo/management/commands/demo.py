from django.conf import settings
from django.core.management.base import BaseCommand

from kapstone.assessments.demo import build_scores
from kapstone.demo.builder import DEMO_PASSWORD, build_clinic, build_patients
from kapstone.patients.models import Patient


class Command(BaseCommand):
    help = "Build the demo clinic (sites, rooms, staff in every role, patients) and print log-ins."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=60)
        parser.add_argument("--seed", type=int, default=settings.KAPSTONE_DEMO_SEED)
        parser.add_argument(
            "--if-empty", action="store_true", help="only add patients when there are none"
        )

    def handle(self, *args, patients, seed, if_empty, **options):
        clinic = build_clinic(seed)
        existing = Patient.objects.count()
        made = 0
        if not (if_empty and existing):
            made = build_patients(seed, patients, start_index=existing)
            build_scores(seed)
        self.stdout.write(
            f"{clinic['organization'].name}: {len(clinic['sites'])} sites, "
            f"{existing + made} patients ({made} added)."
        )
        self.stdout.write(f"\nDemo log-ins (password for all: {DEMO_PASSWORD})")
        for member in clinic["staff"]:
            roles = ", ".join(role.label for role in member.roles)
            self.stdout.write(f"  {member.username:<12} {roles}")
        self.stdout.write(
            "\nClinical roles and the admin also need a two-factor code: print the current "
            "one with\n  kapstone totp USERNAME\n"
        )
