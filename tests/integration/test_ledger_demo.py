"""The demo clinic's controlled-substance stock: real, whole, and the same for the same seed."""

import pytest
from django.db import transaction

from kapstone.demo.builder import build_clinic, build_patients
from kapstone.ledger.actions import verify_ledger
from kapstone.ledger.models import Count, LedgerEntry, StorageLocation


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _ledger(seed: int) -> list[tuple]:
    with transaction.atomic():
        build_clinic(seed)
        build_patients(seed, 8)
        rows = list(
            LedgerEntry.objects.order_by("seq").values_list(
                "kind", "container__lot_number", "quantity_mg", "patient__record_number"
            )
        )
        transaction.set_rollback(True)
    return rows


def test_demo_ledger_is_the_same_for_the_same_seed(db):
    assert _ledger(7) == _ledger(7)
    assert _ledger(7) != _ledger(8)


def test_demo_ledger_is_whole_and_shows_each_kind_of_record(db):
    build_clinic(3)
    build_patients(3, 8)

    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {"receive", "transfer", "administer", "waste"} <= kinds
    assert StorageLocation.objects.count() == 2
    assert set(Count.objects.values_list("kind", flat=True)) == {"initial", "daily"}
    assert not Count.objects.filter(reconciliation__isnull=False).exists()
    report = verify_ledger()
    assert report.intact, report.problem

    build_patients(3, 2, start_index=8)
    assert StorageLocation.objects.count() == 2
