"""Random sequences of ledger operations against the real actions and database.

Whatever the order (receive, administer, waste, transfer, adjust, reverse, count and
reconcile), no balance goes below zero, each container's entries add up to what it holds, the
chain verifies, and a reversal restores what the reversed entry changed. A model kept beside
the database says what every balance should be.
"""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from kapstone.access.roles import Role
from kapstone.dosing import actions as dosing
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.ledger import actions
from kapstone.ledger.models import Container, LedgerEntry
from tests.integration.test_ledger_fixtures import (
    SIGNING_PASSWORD,
    WITNESS_PASSWORD,
    _fast_passwords,  # noqa: F401 - autouse fixture
    ready_for_a_dose,
    receive,
)

D = Decimal
REFUSED = (InvalidInput, InvalidInputs)
STRENGTHS = {"50": "99999-0050-10", "100": "99999-0100-10"}
quantities = st.decimals(min_value="0.001", max_value="700", places=3)


class LedgerMachine(RuleBasedStateMachine):
    # Set by the test: staff, places and a dosing session that every run shares.
    world: dict = {}

    containers = Bundle("containers")
    entries = Bundle("entries")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.expected: dict[int, Decimal] = {}
        self.where: dict[int, int] = {}

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @property
    def w(self):
        return self.world

    def _container(self, pk):
        return Container.objects.get(pk=pk)

    def _moved(self, entry):
        self.expected[entry.container_id] = entry.balance_after_mg
        return entry.pk

    @rule(target=containers, count=st.integers(1, 2), strength=st.sampled_from(list(STRENGTHS)))
    def receive(self, count, strength):
        receipt = receive(
            self.w["nurse"],
            self.w["safe"],
            containers=count,
            mg_per_ml=strength,
            ndc=STRENGTHS[strength],
        )
        made = list(Container.objects.filter(receipt=receipt))
        for container in made:
            self.expected[container.pk] = container.balance_mg
            self.where[container.pk] = self.w["safe"].pk
        return multiple(*[c.pk for c in made])

    @rule(target=entries, pk=containers, quantity=quantities, unit=st.sampled_from(["mg", "mL"]))
    def administer(self, pk, quantity, unit):
        container = self._container(pk)
        mg = quantity * (container.product.mg_per_ml if unit == "mL" else 1)
        try:
            entry = actions.administer(
                by=self.w["nurse"],
                container=container,
                session=self.w["session"],
                quantity=str(quantity),
                unit=unit,
            )
        except REFUSED:
            assert mg > self.expected[pk]
            return multiple()
        assert entry.quantity_mg == mg
        return self._moved(entry)

    @rule(target=entries, pk=containers, quantity=quantities)
    def waste(self, pk, quantity):
        try:
            entry = actions.waste(
                by=self.w["nurse"],
                container=self._container(pk),
                quantity=str(quantity),
                witness=self.w["witness"],
                witness_password=WITNESS_PASSWORD,
            )
        except REFUSED:
            assert quantity > self.expected[pk]
            return multiple()
        return self._moved(entry)

    @rule(target=entries, pk=containers)
    def transfer(self, pk):
        to = self.w["cabinet"] if self.where[pk] == self.w["safe"].pk else self.w["safe"]
        try:
            entry = actions.transfer(
                by=self.w["nurse"], container=self._container(pk), to_location=to
            )
        except REFUSED:
            assert self.expected[pk] == 0
            return multiple()
        self.where[pk] = to.pk
        return self._moved(entry)

    @rule(target=entries, pk=containers, quantity=quantities, removes=st.booleans())
    def adjust(self, pk, quantity, removes):
        try:
            entry = actions.adjust(
                by=self.w["nurse"],
                container=self._container(pk),
                direction="remove" if removes else "add",
                quantity=str(quantity),
                reason="Random adjustment",
            )
        except REFUSED:
            assert removes and quantity > self.expected[pk]
            return multiple()
        return self._moved(entry)

    @rule(entry_pk=consumes(entries))
    def reverse(self, entry_pk):
        original = LedgerEntry.objects.get(pk=entry_pk)
        pk = original.container_id
        latest = LedgerEntry.objects.filter(container_id=pk).order_by("-seq").first()
        before = self.expected[pk]
        try:
            reversal = actions.reverse(by=self.w["nurse"], entry=original, reason="Mistake")
        except REFUSED:
            if original.kind == "transfer":
                assert self.where[pk] != original.to_location_id or before == 0
            else:
                assert before - original.delta_mg < 0
            return
        self._moved(reversal)
        if original.kind == "transfer":
            self.where[pk] = original.location_id
        assert reversal.balance_after_mg == before - original.delta_mg
        if latest.pk == original.pk:
            # Undoing the newest entry restores the balance from before it.
            assert reversal.balance_after_mg == original.balance_after_mg - original.delta_mg

    @rule(shifts=st.lists(st.sampled_from([D(0), D(0), D("-1.5"), D("2")]), min_size=1))
    def count_and_reconcile(self, shifts):
        in_stock = sorted(pk for pk, mg in self.expected.items() if mg > 0)
        counted = {}
        for index, pk in enumerate(in_stock):
            counted[pk] = max(D(0), self.expected[pk] + shifts[index % len(shifts)])
        count = actions.record_count(
            by=self.w["nurse"],
            site=self.w["site"],
            kind="daily",
            unit="mg",
            counted={pk: str(mg) for pk, mg in counted.items()},
        )
        differs = any(counted[pk] != self.expected[pk] for pk in in_stock)
        assert hasattr(count, "reconciliation") == differs
        if differs:
            actions.resolve_reconciliation(
                by=self.w["prescriber"],
                reconciliation=count.reconciliation,
                resolution="adjust_to_count",
                explanation="Counted again",
                password=SIGNING_PASSWORD,
            )
            self.expected.update(counted)

    @invariant()
    def balances_are_as_expected_and_never_negative(self):
        stored = dict(Container.objects.values_list("pk", "balance_mg"))
        assert stored == self.expected
        assert all(mg >= 0 for mg in stored.values())

    @invariant()
    def entries_sum_to_what_is_on_hand(self):
        # Summed here in Decimal: SQLite would add the stored values as floating point.
        sums: dict[int, Decimal] = {}
        for pk, delta in LedgerEntry.objects.values_list("container_id", "delta_mg"):
            sums[pk] = sums.get(pk, D(0)) + delta
        assert sums == self.expected

    @invariant()
    def chain_verifies(self):
        report = actions.verify_ledger()
        assert report.intact, report.problem


@pytest.fixture
def machine_world(clinic, make_staff, patient):
    _org, site = clinic
    nurse = make_staff(Role.NURSE)
    prescriber = make_staff(Role.PRESCRIBER, password=SIGNING_PASSWORD)
    witness = make_staff(Role.NURSE, password=WITNESS_PASSWORD)
    safe = actions.add_location(by=nurse, site=site, name="Safe", kind="safe")
    cabinet = actions.add_location(by=nurse, site=site, name="Cabinet", kind="cabinet")
    session = dosing.schedule_session(
        by=prescriber,
        patient=patient,
        site=site,
        scheduled_start=timezone.now(),
        prescriber=prescriber,
    )
    ready_for_a_dose(session)
    return {
        "site": site,
        "safe": safe,
        "cabinet": cabinet,
        "nurse": nurse,
        "prescriber": prescriber,
        "witness": witness,
        "session": session,
    }


def test_random_operations_keep_the_ledger_whole(machine_world):
    LedgerMachine.world = machine_world
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
