import pytest
from django.core.management import call_command
from django.db import transaction

from kapstone.access.roles import Role
from kapstone.audit.recording import verify_chain
from kapstone.demo.builder import STAFF, build_clinic, build_patients
from kapstone.patients.models import Diagnosis, Patient
from kapstone.staff.models import StaffRole


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Demo staff get real passwords; Argon2 is checked elsewhere and would dominate here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _snapshot(seed: int) -> list[tuple]:
    with transaction.atomic():
        build_clinic(seed)
        build_patients(seed, 4)
        rows = [
            (p.record_number, p.first_name, p.last_name, p.date_of_birth.isoformat(), p.city)
            for p in Patient.objects.order_by("record_number")
        ]
        rows += sorted(Diagnosis.objects.values_list("patient__record_number", "code"))
        transaction.set_rollback(True)
    return rows


def test_demo_is_the_same_for_the_same_seed(db):
    assert _snapshot(7) == _snapshot(7)
    assert _snapshot(7) != _snapshot(8)


def test_demo_command_builds_a_clinic(db, capsys):
    call_command("demo", patients=5, seed=3)
    out = capsys.readouterr().out
    assert "5 patients (5 added)" in out
    for member in STAFF:
        assert member.username in out
    assert {row.role for row in StaffRole.objects.all()} == {r.value for r in Role}
    assert Patient.objects.count() == 5
    assert all(p.diagnoses.filter(is_primary=True).count() == 1 for p in Patient.objects.all())
    assert verify_chain().intact
    call_command("demo", patients=5, seed=3, if_empty=True)
    assert Patient.objects.count() == 5
