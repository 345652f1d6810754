"""Benchmark: how many bedside-monitor messages the MLLP listener acknowledges a second.

    python bench/mllp_ack.py [--messages N] [--window W] [--sqlite]

Target: at least 1,000 ACKs a second on one core. This prints figures; it does not fail a
build.

The listener runs in its own process pinned to one core (os.sched_setaffinity), the client
in another process pinned to a different core where there is one. Two runs:

- round trip: one message at a time, the next sent when the ACK is back (what a monitor
  does): ACKs a second and p50/p99 latency;
- pipelined: up to W messages in flight on one connection: the listener's ceiling.

The default handler is in memory: parse the ORU^R01, map the MDC codes, check the values,
build the ACK, no database. With --sqlite it also runs the `kapstone mllp` command's own
handler on a fresh SQLite database (migrated in a temporary directory): the patient's record
number and the session under way are looked up and the readings stored (each message's
control id once, its readings and any alerts) for every message, on the listener's one
handler thread, as `kapstone mllp` runs.
"""

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MESSAGE = (
    "MSH|^~\\&|MONITOR_GW^0123456789ABCDEF^EUI-64|ROOM_2|KAPSTONE|CLINIC|"
    "20260115103005-0500||ORU^R01^ORU_R01|MSG{n:08d}|P|2.6|||AL|NE||UNICODE UTF-8|||"
    "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
    "PID|||{record}^^^KAPSTONE^MR\r"
    "OBR|1|ORD1^MONITOR_GW|ORD1^MONITOR_GW|182777000^monitoring of patient^SNOMED-CT|||"
    "20260115103000-0500\r"
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X\r"
    "OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.1|128|266016^MDC_DIM_MMHG^MDC|||||R|||"
    "20260115103000-0500\r"
    "OBX|3|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.2|82|266016^MDC_DIM_MMHG^MDC|||||R|||"
    "20260115103000-0500\r"
    "OBX|4|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R|||"
    "20260115103000-0500\r"
    "OBX|5|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.2|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||"
    "20260115103000-0500\r"
    "OBX|6|NM|151562^MDC_RESP_RATE^MDC|1.3.1.1|14|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||"
    "20260115103000-0500\r"
)


def pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})


def memory_handler():
    from kapstone.monitoring.hl7v2 import make_handler

    return make_handler(lambda message: None), False


def sqlite_handler(data_dir: str):
    """The command's handler on a fresh database, with one patient in a session."""
    os.environ["KAPSTONE_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    import django

    django.setup()
    from datetime import date, timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from kapstone.access.roles import Role
    from kapstone.core.management.commands.mllp import database_handler
    from kapstone.core.models import Organization, Site
    from kapstone.dosing import actions as dosing
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
    patient = patients.register_patient(
        by=staff,
        first_name="Robin",
        last_name="Benchpatient",
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
        scheduled_start=timezone.now() - timedelta(minutes=10),
        prescriber=staff,
    )
    dosing.change_status(by=staff, session=session, status="checked_in")
    return database_handler(), True, patient.record_number


def server_main(kind: str, data_dir: str, ready) -> None:
    pin(0)
    record = "K000123"
    if kind == "sqlite":
        handler, in_thread, record = sqlite_handler(data_dir)
    else:
        handler, in_thread = memory_handler()
    from kapstone.monitoring.mllp import MLLPServer

    async def run():
        server = MLLPServer(handler, host="127.0.0.1", port=0, handler_in_thread=in_thread)
        port = await server.start()
        ready.send((port, record))
        await server.serve_forever()

    asyncio.run(run())


def read_acks(sock: socket.socket, framer, count: int) -> list[bytes]:
    acks: list[bytes] = []
    while len(acks) < count:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("listener closed the connection")
        acks += framer.feed(data)
    return acks


def client_main(port: int, record: str, messages: int, window: int, out) -> None:
    pin(1)
    from kapstone.monitoring.mllp import Framer, frame

    payloads = [frame(MESSAGE.format(n=n, record=record)) for n in range(messages)]
    codes: dict[str, int] = {}

    def tally(acks):
        for ack in acks:
            code = ack.split(b"MSA|", 1)[1][:2].decode()
            codes[code] = codes.get(code, 0) + 1

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        framer = Framer()
        # Warm up: imports, caches, the first database connection.
        for payload in payloads[:50]:
            sock.sendall(payload)
            read_acks(sock, framer, 1)
        latencies = []
        started = time.perf_counter()
        for payload in payloads:
            sent = time.perf_counter()
            sock.sendall(payload)
            tally(read_acks(sock, framer, 1))
            latencies.append(time.perf_counter() - sent)
        round_trip = time.perf_counter() - started

        started = time.perf_counter()
        in_flight = 0
        next_index = 0
        done = 0
        while done < messages:
            while in_flight < window and next_index < messages:
                sock.sendall(payloads[next_index])
                next_index += 1
                in_flight += 1
            acks = read_acks(sock, framer, 1)
            done += len(acks)
            in_flight -= len(acks)
        pipelined = time.perf_counter() - started
    latencies.sort()
    out.send(
        {
            "round_trip_per_s": messages / round_trip,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "pipelined_per_s": messages / pipelined,
            "codes": codes,
        }
    )


def run(kind: str, messages: int, window: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        ready_recv, ready_send = multiprocessing.Pipe(duplex=False)
        server = multiprocessing.Process(
            target=server_main, args=(kind, data_dir, ready_send), daemon=True
        )
        server.start()
        if not ready_recv.poll(180):
            server.terminate()
            raise SystemExit("the listener did not start")
        port, record = ready_recv.recv()
        out_recv, out_send = multiprocessing.Pipe(duplex=False)
        client = multiprocessing.Process(
            target=client_main, args=(port, record, messages, window, out_send)
        )
        client.start()
        result = out_recv.recv()
        client.join()
        server.terminate()
        server.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--sqlite", action="store_true", help="also the command's handler")
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, load average {' '.join(map(str, os.getloadavg()))}")
    kinds = ["memory", "sqlite"] if args.sqlite else ["memory"]
    for kind in kinds:
        result = run(kind, args.messages, args.window)
        print(
            f"{kind:>6}: round trip {result['round_trip_per_s']:,.0f} ACK/s "
            f"(p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms); "
            f"pipelined x{args.window} {result['pipelined_per_s']:,.0f} ACK/s; "
            f"answers {result['codes']}"
        )


if __name__ == "__main__":
    main()
