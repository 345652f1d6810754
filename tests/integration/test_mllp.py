"""The MLLP listener: framing, ACKs over a real socket, and the `kapstone mllp` handler."""

import asyncio
import logging
import socket
import threading
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import hl7
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from kapstone.core.management.commands.mllp import database_handler
from kapstone.dosing import actions as dosing_actions
from kapstone.monitoring.hl7v2 import Refused, make_handler
from kapstone.monitoring.mllp import END, START, Framer, MLLPServer, Oversize, frame
from kapstone.monitoring.vitals import Vital

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
MAX_BYTES = 4096


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text().replace("\n", "\r")


def ack_of(ack: str) -> tuple[str, str, list[str]]:
    """(MSA-1, MSA-2, ERR-8 texts) of an ACK."""
    message = hl7.parse(ack)
    msa = message.segment("MSA")
    errs = [str(s[8]) for s in message if str(s[0]) == "ERR"]
    return str(msa[1]), str(msa[2]), errs


# The framer

message_bodies = st.binary(max_size=300).map(
    lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")
)


@given(
    bodies=st.lists(message_bodies, max_size=8),
    garbage=st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\x0b", b"")), max_size=9),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
)
def test_any_split_of_a_stream_yields_the_same_messages(bodies, garbage, cuts):
    stream = b""
    for index, body in enumerate(bodies):
        stream += (garbage[index] if index < len(garbage) else b"") + frame(body)
    stream += garbage[-1] if garbage else b""
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    framer = Framer(max_message_bytes=MAX_BYTES)
    out = []
    for start, end in pairwise(points):
        out += framer.feed(stream[start:end])
    assert out == bodies


@pytest.mark.parametrize(
    "reads, expected",
    [
        ([b"\x0bONE\x1c\x0d"], [b"ONE"]),
        ([b"\x0bONE\x1c\x0d\x0bTWO\x1c\x0d"], [b"ONE", b"TWO"]),
        ([b"\x0bON", b"E\x1c", b"\x0d"], [b"ONE"]),
        ([b"noise\r\n\x0bONE\x1c\x0d"], [b"ONE"]),
        # A 0x1C not followed by CR is content; the frame ends at 0x1C 0x0D.
        ([b"\x0bA\x1cB\x1c\x0d"], [b"A\x1cB"]),
        # A new start byte inside a frame drops the unfinished one.
        ([b"\x0bHALF", b"\x0bWHOLE\x1c\x0d"], [b"WHOLE"]),
        ([b"\x0bnever ends"], []),
    ],
)
def test_framer_cases(reads, expected):
    framer = Framer(max_message_bytes=MAX_BYTES)
    assert [item for data in reads for item in framer.feed(data)] == expected


@pytest.mark.parametrize("chunk", [MAX_BYTES * 3, 1000, 7])
def test_an_oversize_frame_is_reported_once_and_the_next_frame_still_read(chunk):
    stream = frame(b"MSH|" + b"x" * (MAX_BYTES * 2)) + frame(b"NEXT")
    framer = Framer(max_message_bytes=MAX_BYTES)
    out = []
    for start in range(0, len(stream), chunk):
        out += framer.feed(stream[start : start + chunk])
    assert len(out) == 2
    assert isinstance(out[0], Oversize) and out[0].head.startswith(b"MSH|")
    assert out[1] == b"NEXT"


# The listener over a socket


@pytest.fixture(params=[False, True], ids=["on-loop", "in-thread"])
def listener(request):
    """An MLLP listener on loopback with an in-memory store, its handler on the event loop
    or on the handler thread (as the database handler runs); stopped at the test's end."""
    received = []
    known = {"K000123"}

    def store(message):
        if message.patient_id not in known:
            raise Refused("unknown patient", "204", field=3)
        if message.control_id == "EXPLODE":
            raise RuntimeError(f"store failed for {message.patient_id}")
        received.append(message)

    server = MLLPServer(
        make_handler(store),
        host="127.0.0.1",
        port=0,
        max_message_bytes=MAX_BYTES,
        handler_in_thread=request.param,
    )
    loop = asyncio.new_event_loop()
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(port=port, received=received, server=server)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
    assert not thread.is_alive()


def exchange(port: int, chunks: list[bytes], acks: int, pause: float = 0.0) -> list[str]:
    """Send `chunks` (one send each) and read `acks` framed answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            client.sendall(chunk)
            if pause:
                time.sleep(pause)
        framer = Framer()
        answers: list[bytes] = []
        while len(answers) < acks:
            data = client.recv(65536)
            if not data:
                break
            answers += framer.feed(data)
    return [answer.decode() for answer in answers]


def test_a_valid_message_is_acknowledged_and_stored(listener):
    (ack,) = exchange(listener.port, [frame(fixture("normal.hl7"))], 1)
    assert ack_of(ack) == ("AA", "MSG00001", [])
    (message,) = listener.received
    assert [r.vital for r in message.readings][:2] == [Vital.SYSTOLIC_BP, Vital.DIASTOLIC_BP]


def test_two_messages_in_one_packet_get_two_acks_in_order(listener):
    packet = frame(fixture("normal.hl7")) + frame(fixture("several_groups.hl7"))
    acks = exchange(listener.port, [packet], 2)
    assert [ack_of(a)[:2] for a in acks] == [("AA", "MSG00001"), ("AA", "MSG00002")]


def test_many_messages_sent_without_waiting_are_answered_in_order(listener):
    # A gateway catching up after a network break sends its backlog without waiting.
    bodies = [fixture("normal.hl7").replace("MSG00001", f"MSG{n:05d}") for n in range(40)]
    acks = exchange(listener.port, [b"".join(frame(body) for body in bodies)], 40)
    assert [ack_of(a)[:2] for a in acks] == [("AA", f"MSG{n:05d}") for n in range(40)]
    assert len(listener.received) == 40


def test_a_message_split_across_packets_is_put_back_together(listener):
    data = frame(fixture("normal.hl7"))
    # Cut inside the MSH, mid-OBX, and between the 0x1C and the 0x0D.
    pieces = [data[:5], data[5:300], data[300:-1], data[-1:]]
    (ack,) = exchange(listener.port, pieces, 1, pause=0.02)
    assert ack_of(ack) == ("AA", "MSG00001", [])


def test_bytes_before_the_start_byte_are_skipped(listener):
    (ack,) = exchange(listener.port, [b"\r\n\x00junk" + frame(fixture("normal.hl7"))], 1)
    assert ack_of(ack)[:2] == ("AA", "MSG00001")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("no_msh.hl7", ("AR", "", ["message must begin with MSH"])),
        ("bad_encoding.hl7", ("AR", "MSG00008", ["encoding characters must be the standard set"])),
        ("wrong_type.hl7", ("AR", "MSG00009", ["only ORU\\S\\R01 is accepted"])),
        ("unknown_patient.hl7", ("AE", "MSG00006", ["unknown patient"])),
    ],
)
def test_malformed_and_unknown_patient_messages(listener, name, expected):
    (ack,) = exchange(listener.port, [frame(fixture(name))], 1)
    assert ack_of(ack) == expected
    assert listener.received == []
    assert "K999999" not in ack


def test_a_partial_message_keeps_the_good_observations(listener):
    (ack,) = exchange(listener.port, [frame(fixture("partial.hl7"))], 1)
    code, control_id, errs = ack_of(ack)
    assert (code, control_id) == ("AA", "MSG00004")
    assert errs == [
        "value missing",
        "units missing",
        "units do not match the observation",
        "heart_rate: must be a number",
        "value missing",
    ]
    (message,) = listener.received
    assert [r.vital for r in message.readings] == [Vital.SPO2]


def test_an_oversize_frame_is_rejected_and_the_connection_goes_on(listener):
    big = fixture("normal.hl7").replace("MSG00001", "BIG00001") + "NTE|1||" + "x" * MAX_BYTES
    acks = exchange(listener.port, [frame(big), frame(fixture("normal.hl7"))], 2)
    assert [ack_of(a) for a in acks] == [
        ("AR", "BIG00001", ["message too large"]),
        ("AA", "MSG00001", []),
    ]


def test_a_failing_store_is_answered_ar_and_logs_no_patient_data(listener, caplog):
    caplog.set_level(logging.INFO)
    text = fixture("normal.hl7").replace("MSG00001", "EXPLODE")
    (ack,) = exchange(listener.port, [frame(text)], 1)
    assert ack_of(ack) == ("AR", "EXPLODE", ["message could not be processed"])
    assert "RuntimeError" in caplog.text
    assert "K000123" not in caplog.text


def test_an_unfinished_frame_then_hang_up_leaves_the_listener_serving(listener):
    assert exchange(listener.port, [START + b"MSH|^~\\&|half a message"], 0) == []
    assert exchange(listener.port, [b"\x1c" + END], 0) == []
    (ack,) = exchange(listener.port, [frame(fixture("normal.hl7"))], 1)
    assert ack_of(ack)[0] == "AA"


def test_several_connections_at_once(listener):
    results = []

    def client():
        results.extend(exchange(listener.port, [frame(fixture("normal.hl7"))] * 5, 5))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 20 and {ack_of(a)[0] for a in results} == {"AA"}


# The `kapstone mllp` handler: patient, session, and the dosing store


@pytest.fixture
def in_progress(clinic, clinician, make_patient):
    """A patient whose dosing session is under way, and the message about them."""
    _org, site = clinic
    patient = make_patient()
    session = dosing_actions.schedule_session(
        by=clinician,
        patient=patient,
        site=site,
        scheduled_start=timezone.now() - timedelta(minutes=30),
        prescriber=clinician,
    )
    dosing_actions.change_status(by=clinician, session=session, status="checked_in")
    text = fixture("normal.hl7").replace("K000123", patient.record_number)
    return SimpleNamespace(patient=patient, session=session, text=text)


def test_database_handler_unknown_patient_is_ae(db):
    ack = database_handler()(fixture("unknown_patient.hl7"))
    assert ack_of(ack) == ("AE", "MSG00006", ["unknown patient"])


def test_database_handler_patient_without_a_session_in_progress_is_ae(make_patient):
    patient = make_patient()
    ack = database_handler()(fixture("normal.hl7").replace("K000123", patient.record_number))
    assert ack_of(ack) == ("AE", "MSG00001", ["no dosing session in progress"])
    assert patient.record_number not in ack


def test_database_handler_without_a_dosing_store_is_ae(in_progress, monkeypatch):
    monkeypatch.delattr(dosing_actions, "record_device_readings", raising=False)
    ack = database_handler()(in_progress.text)
    assert ack_of(ack) == ("AE", "MSG00001", ["no store for readings yet"])


def test_database_handler_hands_readings_to_the_dosing_store(in_progress, monkeypatch):
    calls = []

    def record_device_readings(*, session, readings, source, control_id):
        calls.append((session, readings, source, control_id))

    monkeypatch.setattr(
        dosing_actions, "record_device_readings", record_device_readings, raising=False
    )
    ack = database_handler()(in_progress.text)
    assert ack_of(ack) == ("AA", "MSG00001", [])
    ((session, readings, source, control_id),) = calls
    assert session.pk == in_progress.session.pk
    assert (source, control_id, len(readings)) == ("device", "MSG00001", 6)


def test_database_handler_a_refusal_by_the_dosing_store_is_ae(in_progress, monkeypatch):
    from kapstone.errors import InvalidInput

    def record_device_readings(**kwargs):
        raise InvalidInput("readings", "must fall within the session")

    monkeypatch.setattr(
        dosing_actions, "record_device_readings", record_device_readings, raising=False
    )
    ack = database_handler()(in_progress.text)
    assert ack_of(ack) == ("AE", "MSG00001", ["readings refused (readings)"])


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "70000"], "--port"),
        (["--max-message-bytes", "10"], "--max-message-bytes"),
    ],
)
def test_the_command_refuses_bad_options(args, words):
    with pytest.raises(CommandError, match=words):
        call_command("mllp", *args)
