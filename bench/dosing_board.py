"""Benchmark: the nurse-station board with 30 sessions under way.

    python bench/dosing_board.py [--sessions N] [--requests R]

Target: under 200 ms server time per board request (the HTMX fragment polled every
2 seconds, and the full page). Each session has a dose start and readings every 5 minutes for
two hours. Measured in-process with Django's test client on a fresh SQLite database
(migrated in a temporary directory), signed in as a nurse: the time includes the middleware,
the queries, the audit event the page writes and the template. Prints figures; it does not
fail a build.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def setup(data_dir: str, sessions: int):
    os.environ["KAPSTONE_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    import django

    django.setup()
    from datetime import date, timedelta

    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kapstone.access.roles import Role
    from kapstone.core.models import Organization, Site
    from kapstone.dosing import actions as dosing
    from kapstone.dosing.models import DosingSession
    from kapstone.patients import actions as patients
    from kapstone.staff.actions import create_staff

    call_command("migrate", verbosity=0)
    site = Site.objects.create(organization=Organization.current(), name="Bench", code="bench")
    staff = create_staff(
        by=None,
        username="bench",
        password=None,
        roles=[Role.PRESCRIBER, Role.NURSE],
        first_name="Bench",
        last_name="Mark",
        check_password_strength=False,
    )
    now = timezone.now()
    for n in range(sessions):
        patient = patients.register_patient(
            by=staff,
            first_name="Robin",
            last_name=f"Benchpatient{n}",
            date_of_birth=date(1985, 4, 12),
            sex_at_birth="female",
            weight="70",
            weight_unit="kg",
            height="170",
            height_unit="cm",
        )
        session = dosing.schedule_session(
            by=staff,
            patient=patient,
            site=site,
            scheduled_start=now - timedelta(hours=2),
            prescriber=staff,
        )
        dosing.change_status(by=staff, session=session, status="checked_in")
        # The pre-dose check and the dose are not what is measured here: the session is put
        # straight into monitoring, dosed two hours ago.
        DosingSession.objects.filter(pk=session.pk).update(
            status="monitoring", dose_started_at=now - timedelta(hours=2), route="iv"
        )
        for minutes in range(120, 0, -5):
            dosing.record_vitals(
                by=staff,
                session=session,
                values={
                    "systolic_bp": str(120 + n % 30),
                    "diastolic_bp": "80",
                    "heart_rate": "72",
                    "spo2": "97",
                    "respiratory_rate": "14",
                    "moaas": "5",
                },
                taken_at=now - timedelta(minutes=minutes),
            )
    nurse = create_staff(
        by=None,
        username="nurse",
        password=None,
        roles=[Role.NURSE],
        first_name="Night",
        last_name="Nurse",
        check_password_strength=False,
    )
    device = TOTPDevice.objects.create(user=nurse, name="bench", confirmed=True)
    client = Client()
    client.force_login(nurse, backend="kapstone.staff.backends.StaffBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure(client, url: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        client = setup(data_dir, args.sessions)
        from django.urls import reverse

        for name in ("dosing_board_rows", "dosing_board"):
            url = reverse(name)
            measure(client, url, 5)  # warm up: templates, connections
            times = sorted(measure(client, url, args.requests))
            p50 = statistics.median(times)
            p95 = times[int(len(times) * 0.95) - 1]
            print(
                f"{name}: {args.sessions} sessions, {args.requests} requests: "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms (target < 200 ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
