"""The ledger's hash chain on plain dictionaries: edits, gaps, removals and balances that do
not add up are all caught."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kapstone.ledger import chain

D = Decimal


def build(deltas: list[tuple[int, Decimal]]) -> list[dict]:
    """Entries for (container, change) pairs, chained, with running balances."""
    entries, prev, balances = [], chain.GENESIS, {}
    for seq, (container, delta) in enumerate(deltas, start=1):
        balances[container] = balances.get(container, D(0)) + delta
        entry = {name: "" for name in chain.HASHED_FIELDS}
        entry.update(
            seq=seq,
            kind="receive" if delta > 0 else "administer",
            container_id=container,
            location_id=1,
            to_location_id=None,
            quantity_mg=abs(delta),
            delta_mg=delta,
            balance_after_mg=balances[container],
            occurred_at="2026-11-21T10:00:00.000000Z",
            recorded_at="2026-11-21T10:00:00.000000Z",
            recorded_by_id=7,
            second_signer_id=None,
            patient_id=None,
            session_id=None,
            reversal_of_id=None,
            loss_report_id=None,
            reconciliation_id=None,
            prev_hash=prev,
        )
        entry["hash"] = chain.entry_hash(entry)
        prev = entry["hash"]
        entries.append(entry)
    return entries


def head(entries):
    return (entries[-1]["seq"], entries[-1]["hash"]) if entries else (0, chain.GENESIS)


SAMPLE = [(1, D(500)), (2, D(500)), (1, D("-35.15")), (1, D("-2.5")), (2, D(-100))]


def test_intact_chain_verifies_and_gives_balances():
    entries = build(SAMPLE)
    report = chain.verify(entries, *head(entries))
    assert report.intact
    assert report.entries_checked == 5
    assert report.balances == {1: D("462.35"), 2: D(400)}


def test_empty_chain_verifies():
    assert chain.verify([], 0, chain.GENESIS).intact


def test_edited_quantity_is_detected():
    entries = build(SAMPLE)
    saved_head = head(entries)
    entries[2]["delta_mg"] = D("-3.515")
    report = chain.verify(entries, *saved_head)
    assert not report.intact
    assert report.first_bad_seq == 3
    assert "altered" in report.problem


def test_edited_entry_with_recomputed_hash_breaks_the_next_link():
    entries = build(SAMPLE)
    saved_head = head(entries)
    entries[1]["recorded_by_id"] = 8
    entries[1]["hash"] = chain.entry_hash(entries[1])
    report = chain.verify(entries, *saved_head)
    assert report.first_bad_seq == 3
    assert "does not link" in report.problem


def test_rehashed_entry_whose_balance_does_not_follow_is_detected():
    # A forger who recomputes every hash after changing a quantity still leaves the running
    # balance wrong.
    entries = build(SAMPLE)
    entries[2]["quantity_mg"] = D("3.515")
    entries[2]["delta_mg"] = D("-3.515")
    prev = entries[1]["hash"]
    for entry in entries[2:]:
        entry["prev_hash"] = prev
        entry["hash"] = chain.entry_hash(entry)
        prev = entry["hash"]
    report = chain.verify(entries, *head(entries))
    assert not report.intact
    assert report.first_bad_seq == 3
    assert "balance" in report.problem


def test_removed_entry_is_detected():
    entries = build(SAMPLE)
    saved_head = head(entries)
    del entries[1]
    report = chain.verify(entries, *saved_head)
    assert report.first_bad_seq == 2
    assert "missing" in report.problem


def test_removed_newest_entry_is_detected_by_the_head():
    entries = build(SAMPLE)
    saved_head = head(entries)
    report = chain.verify(entries[:-1], *saved_head)
    assert not report.intact
    assert "head" in report.problem


def test_decimal_places_do_not_change_the_hash():
    entries = build(SAMPLE)
    entries[2]["delta_mg"] = D("-35.150")
    entries[2]["balance_after_mg"] = D("464.850")
    assert chain.verify(entries, *head(entries)).intact


def test_stored_balances_compared_with_the_chain():
    assert chain.compare_balances({1: D(5)}, {1: D("5.000")}) == ""
    assert "container 1" in chain.compare_balances({1: D(5)}, {1: D(6)})
    assert "container 2" in chain.compare_balances({1: D(5)}, {1: D(5), 2: D(1)})


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.decimals(min_value="0.001", max_value=500, places=3)),
        min_size=1,
        max_size=25,
    ),
    st.data(),
)
def test_any_single_edit_is_detected(moves, data):
    entries = build([(c, q) for c, q in moves])
    saved_head = head(entries)
    index = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(st.sampled_from(["quantity_mg", "delta_mg", "container_id", "patient_id"]))
    entries[index][field] = (
        999 if field in ("container_id", "patient_id") else D("0.001") + (entries[index][field])
    )
    assert not chain.verify(entries, *saved_head).intact
