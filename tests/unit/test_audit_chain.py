"""The hash chain alone, on plain dictionaries: every kind of tampering is caught."""

from hypothesis import given
from hypothesis import strategies as st

from kapstone.audit import chain


def build(n: int) -> list[dict]:
    events, prev = [], chain.GENESIS
    for seq in range(1, n + 1):
        event = {
            "seq": seq,
            "occurred_at": f"2026-11-21T10:00:{seq % 60:02d}.000000Z",
            "actor_id": 7,
            "actor_username": "nurse",
            "actor_roles": "nurse",
            "action": "patient.view",
            "target_type": "patients.patient",
            "target_id": str(seq),
            "patient_id": seq,
            "ip_address": "127.0.0.1",
            "detail": {"sections": ["demographics", "clinical"]},
            "prev_hash": prev,
        }
        event["hash"] = chain.event_hash(event)
        prev = event["hash"]
        events.append(event)
    return events


def head(events):
    return (events[-1]["seq"], events[-1]["hash"]) if events else (0, chain.GENESIS)


def test_intact_chain_verifies():
    events = build(5)
    report = chain.verify(events, *head(events))
    assert report.intact and report.events_checked == 5


def test_empty_chain_verifies():
    assert chain.verify([], 0, chain.GENESIS).intact


def test_edited_event_is_detected():
    events = build(5)
    head_before = head(events)
    events[2]["actor_username"] = "someone-else"
    report = chain.verify(events, *head_before)
    assert not report.intact
    assert report.first_bad_seq == 3
    assert "altered" in report.problem


def test_edited_event_with_recomputed_hash_breaks_the_next_link():
    events = build(5)
    head_before = head(events)
    events[2]["detail"] = {}
    events[2]["hash"] = chain.event_hash(events[2])
    report = chain.verify(events, *head_before)
    assert not report.intact and report.first_bad_seq == 4


def test_deleted_event_is_detected():
    events = build(5)
    head_before = head(events)
    del events[1]
    report = chain.verify(events, *head_before)
    assert not report.intact
    assert report.first_bad_seq == 2 and "missing" in report.problem


def test_deleted_newest_event_is_detected_by_the_head():
    events = build(5)
    head_before = head(events)
    events.pop()
    report = chain.verify(events, *head_before)
    assert not report.intact and "head records event 5" in report.problem


def test_reordered_events_are_detected():
    events = build(4)
    head_before = head(events)
    events[1], events[2] = events[2], events[1]
    assert not chain.verify(events, *head_before).intact


def test_hash_covers_every_field():
    event = build(1)[0]
    for field in chain.HASHED_FIELDS:
        changed = dict(event)
        changed[field] = "x" if not isinstance(event[field], str) else event[field] + "x"
        assert chain.event_hash(changed) != event["hash"], field


@given(st.integers(1, 30), st.data())
def test_any_single_edit_anywhere_is_detected(n, data):
    events = build(n)
    head_before = head(events)
    index = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from([f for f in chain.HASHED_FIELDS if f != "seq"]))
    events[index][field] = data.draw(
        st.text(min_size=1, max_size=10).filter(lambda v: v != events[index][field])
    )
    assert not chain.verify(events, *head_before).intact


@given(st.integers(2, 30), st.data())
def test_any_deletion_is_detected(n, data):
    events = build(n)
    head_before = head(events)
    del events[data.draw(st.integers(0, n - 1))]
    assert not chain.verify(events, *head_before).intact


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    seq=st.integers(min_value=1, max_value=2**62),
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    text=st.text(),
    number=st.none() | st.integers(),
    detail=st.dictionaries(st.text(), _json_values, max_size=4),
)
def test_the_canonical_form_cut_around_the_link_joins_back_to_the_whole(
    seq, prev, text, number, detail
):
    """PostgreSQL finishes the hash from these pieces; any difference would break the chain."""
    event = {
        "seq": seq,
        "occurred_at": "2026-11-21T10:00:00.000000Z",
        "actor_id": number,
        "actor_username": text,
        "actor_roles": "nurse,prescriber",
        "action": text,
        "target_type": "patients.patient",
        "target_id": text,
        "patient_id": number,
        "ip_address": "127.0.0.1",
        "detail": detail,
        "prev_hash": prev,
    }
    before, between, after = chain.canonical_around_link(
        {k: v for k, v in event.items() if k not in ("seq", "prev_hash")}
    )
    assert (before + prev + between + str(seq) + after).encode() == chain.canonical(event)
