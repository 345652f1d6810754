"""Benchmark: patient search and the chart under concurrent load, on SQLite and PostgreSQL.

    python bench/search_and_chart.py [--patients N] [--db sqlite|postgres|both] [--duration S]

Target: with 10,000 patients and their histories, the search and the chart answer at p95
under 100 ms with 20 concurrent clients on a 2-core machine. This prints figures; it does not
fail a build.

For each database it builds a fresh one in a temporary directory (PostgreSQL through
scripts/with-postgres.sh --durable, so commits are really flushed), migrates it, builds the
demo clinic and its patients, starts the real server (`kapstone serve`, gunicorn) on a free
loopback port, and drives it with closed-loop clients, each signed in as the demo nurse with
its own session and connection (kept alive when the server allows; the default sync
workers close it after each answer, and the client opens a new one, as a browser would).
Every chart view and list page appends to the
audit trail's hash chain under a lock, so audit writes are part of what is measured.

The load generator runs on the same machine as the server and the database, so it takes CPU
from them; the figures report how much.

Results go to bench/results/search_and_chart-<db>.json.
"""

import argparse
import heapq
import json
import math
import os
import platform
import random
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
TARGET_P95_MS = 100.0
DEMO_SEED = 20261121
NURSE = "nurse"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def main() -> int:
    args = _parse_args()
    try:
        return _run_one(args) if args.child else _run_all(args)
    except KeyboardInterrupt:
        # By now the finally blocks have stopped the server, and with-postgres.sh its database.
        if not args.child:
            print("\ninterrupted", file=sys.stderr)
        return 130


def _run_all(args) -> int:
    started = time.time()
    load_at_start = os.getloadavg()
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    outcomes = {}
    for database in databases:
        outcomes[database] = _run_child(database, args)
    print(f"\n=== Summary ({time.time() - started:.0f} s in all) ===")
    print(f"load average when the benchmark started: {_fmt_load(load_at_start)}")
    reports = []
    for database in databases:
        path = RESULTS / f"search_and_chart-{database}.json"
        if outcomes[database] == 0 and path.exists():
            reports.append(json.loads(path.read_text()))
        else:
            print(f"{database}: run failed (exit status {outcomes[database]})")
    if reports:
        _print_table(reports)
    return 0 if all(code == 0 for code in outcomes.values()) else 1


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=20)
    # `kapstone serve`'s defaults on two cores: four sync workers (see its --worker-class).
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument(
        "--baseline",
        type=float,
        default=10.0,
        help="seconds per scenario with a single client first, to show the unloaded latency "
        "(0 to skip)",
    )
    parser.add_argument(
        "--loader",
        choices=["bulk", "demo"],
        default="bulk",
        help="bulk: `kapstone demo` for a sample of patients, bench/bulkload.py for the rest; "
        "demo: every patient through `kapstone demo` (slow: minutes per thousand)",
    )
    parser.add_argument(
        "--demo-sample", type=int, default=200, help="patients built by `kapstone demo` (bulk)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds each client pauses between requests in a second round of each "
        "scenario, as a clinician clicking through pages would (0 to skip that round)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the parent: one child process per database -------------------------------------------


def _child_argv(database: str, args) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--db", database]
    for name in (
        "patients",
        "duration",
        "warmup",
        "clients",
        "workers",
        "worker_class",
        "threads",
        "baseline",
        "think",
    ):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return argv + ["--loader", args.loader, "--demo-sample", str(args.demo_sample)]


def _run_child(database: str, args) -> int:
    """Run one database's benchmark in a fresh process, so settings are read from a fresh
    environment (Django reads the database location once, at start-up)."""
    with tempfile.TemporaryDirectory(prefix=f"kapstone-bench-{database}-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAPSTONE_DEBUG")}
        env.update(
            KAPSTONE_DATA_DIR=data_dir,
            DJANGO_SETTINGS_MODULE="kapstone.settings",
            KAPSTONE_DEMO_SEED=str(DEMO_SEED),
            PYTHONUNBUFFERED="1",
        )
        argv = _child_argv(database, args)
        if database == "postgres":
            argv = [str(ROOT / "scripts" / "with-postgres.sh"), "--durable", *argv]
        print(f"\n=== {database} ===", flush=True)
        child = subprocess.Popen(argv, env=env, cwd=ROOT)
        try:
            return child.wait()
        except KeyboardInterrupt:
            # The child saw the same Ctrl-C; let it stop its server and database first.
            child.wait()
            raise


# --- the child: one database, start to finish -----------------------------------------------


def _run_one(args) -> int:
    # A plain `kill` should clean up like Ctrl-C does: through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database = args.db
    _check_database(database)
    report = {"database": database, "target_p95_ms": TARGET_P95_MS}
    build = {}

    t0 = time.perf_counter()
    _manage("migrate", "--noinput", "-v0")
    build["migrate_s"] = round(time.perf_counter() - t0, 1)
    build.update(_build_data(args))

    import django

    django.setup()
    from django.db import connection

    if database == "postgres":
        # A server that has just taken a bulk load would have been vacuumed and analysed by
        # autovacuum within a minute; do it now so the plans do not depend on the timing.
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        build["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)

    report["conditions"] = _conditions()
    report["data"] = {"build": build, **_data_counts()}
    report["server"] = {
        "command": "kapstone serve",
        "worker_class": args.worker_class,
        "workers": args.workers,
        "threads": args.threads if args.worker_class == "gthread" else 1,
    }
    report["load"] = {
        "clients": args.clients,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "generator": f"{args.clients} clients driven by one thread of one Python process (plain "
        "sockets and a selector, a connection each, kept alive if the server allows) on the "
        "same machine as the server: closed loop with no think time, then "
        f"with exponential pauses of mean {args.think:g} s between requests",
        "search": "GET /patients/?q= the start (3 letters to all) of a random patient's "
        "surname, or 1 time in 5 their date of birth",
        "chart": "GET /patients/<random patient>/",
        "user": "the demo nurse (sees demographics, clinical history and diagnoses)",
    }
    sessions = _sessions(args.clients)
    people = _people()
    database_pid = _postmaster_pid() if database == "postgres" else None
    connection.close()
    _print_preamble(report)

    port = _free_port()
    report["scenarios"] = {}
    with tempfile.TemporaryDirectory(prefix="kapstone-bench-server-") as work:
        log_path = Path(work) / "server.log"
        log = log_path.open("w")
        server = _start_server(port, args.workers, args.worker_class, args.threads, log)
        try:
            _wait_healthy(port, server, log_path)
            _check_sessions(port, sessions)
            pids = {"web_server": server.pid, "database": database_pid}
            runs = []
            if args.baseline > 0:
                runs += [(name, sessions[:1], 2.0, args.baseline) for name in SCENARIOS]
            runs = [(*run, 0.0) for run in runs]
            runs += [(name, sessions, args.warmup, args.duration, 0.0) for name in SCENARIOS]
            if args.think > 0:
                runs += [
                    (name, sessions, args.warmup, args.duration, args.think) for name in SCENARIOS
                ]
            for name, clients, warmup, duration, think in runs:
                make_path = SCENARIOS[name](people)
                audit_before = _audit_count()
                load = os.getloadavg()
                result = _run_scenario(port, clients, make_path, pids, warmup, duration, think)
                result["audit_events_written"] = _audit_count() - audit_before
                result["load_average_before"] = [round(x, 2) for x in load]
                key = name if len(clients) == args.clients else f"{name}, {len(clients)} client"
                if think:
                    key = f"{name}, think {think:g} s"
                report["scenarios"][key] = result
                _print_scenario(database, key, result)
        finally:
            _stop_server(server)
            log.close()
    report["data"]["audit_events_after"] = _audit_count()
    report["data"]["audit_chain"] = _verify_audit()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"search_and_chart-{database}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


def _check_database(database: str) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if database == "postgres":
        if urlsplit(url).hostname != HOST:
            sys.exit(
                "the PostgreSQL run needs DATABASE_URL on 127.0.0.1 (scripts/with-postgres.sh)"
            )
    elif url:
        sys.exit("the SQLite run must not have DATABASE_URL set")


def _manage(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "kapstone.cli", *argv], check=True, cwd=ROOT)


def _postmaster_pid() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _build_data(args) -> dict:
    build = {"loader": args.loader}
    # The clinic first (staff accounts hash their passwords, slowly on purpose), then the
    # patients, so the time per patient is the patients' alone.
    build["clinic_s"] = _timed_manage("demo", "--patients", "0")
    sample = args.patients if args.loader == "demo" else min(args.demo_sample, args.patients)
    startup = _timed_manage("demo", "--patients", "0")
    demo_s = _timed_manage("demo", "--patients", str(sample))
    per_patient = max(demo_s - startup, 0.0) / max(sample, 1)
    build.update(
        demo_patients=sample,
        demo_s=round(demo_s, 1),
        demo_s_per_patient=round(per_patient, 4),
        demo_estimated_s_for_all=round(per_patient * args.patients),
    )
    print(
        f"kapstone demo: clinic {build['clinic_s']:.1f} s, then {sample} patients in "
        f"{demo_s:.1f} s ({per_patient * 1000:.0f} ms a patient after {startup:.1f} s of "
        "start-up)",
        flush=True,
    )
    rest = args.patients - sample
    if rest > 0:
        print(
            f"  {args.patients} patients that way would take about "
            f"{per_patient * args.patients / 60:.0f} min; to keep the run short the other "
            f"{rest} are bulk-loaded (bench/bulkload.py: same history shape, audit events "
            "chained on; --loader demo builds them all through the actions)",
            flush=True,
        )
        import django

        django.setup()
        import bulkload

        t0 = time.perf_counter()
        written = bulkload.load(rest, seed=DEMO_SEED + 1, start_index=sample)
        build["bulk_patients"] = rest
        build["bulk_s"] = round(time.perf_counter() - t0, 1)
        build["bulk_rows"] = written
        print(f"bulk load of {rest} patients: {build['bulk_s']:.1f} s", flush=True)
    return build


def _timed_manage(*argv: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kapstone.cli", *argv],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return round(time.perf_counter() - t0, 2)


def _verify_audit() -> dict:
    """The chain must still verify after the bulk load and thousands of concurrent appends."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kapstone.cli", "audit", "verify"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    outcome = (done.stdout + done.stderr).strip().splitlines()[-1:]
    print(f"kapstone audit verify: {' '.join(outcome)}", flush=True)
    return {
        "intact": done.returncode == 0,
        "report": " ".join(outcome),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _data_counts() -> dict:
    from kapstone.audit.models import AuditEvent
    from kapstone.patients import models as m

    rows = {
        model._meta.model_name: model.objects.count()
        for model in (
            m.Patient,
            m.BodyMeasurement,
            m.PatientContact,
            m.Allergy,
            m.MedicationStatement,
            m.Diagnosis,
            m.MedicationTrial,
            m.PsychotherapyCourse,
        )
    }
    return {
        "patients": rows.pop("patient"),
        "history_rows": rows,
        "audit_events_before": AuditEvent.objects.count(),
    }


def _audit_count() -> int:
    from django.db import connection

    from kapstone.audit.models import AuditEvent

    try:
        return AuditEvent.objects.count()
    finally:
        connection.close()


def _sessions(count: int) -> list[str]:
    """Signed-in, second-factor-verified sessions for the demo nurse, one per client, made
    the way a log-in would leave them (the log-in itself is not what is measured)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kapstone.staff.models import User

    store = import_module(settings.SESSION_ENGINE).SessionStore
    nurse = User.objects.get(username=NURSE)
    device = TOTPDevice.objects.get(user=nurse, confirmed=True)
    keys = []
    for _ in range(count):
        session = store()
        session[SESSION_KEY] = str(nurse.pk)
        session[BACKEND_SESSION_KEY] = "kapstone.staff.backends.StaffBackend"
        session[HASH_SESSION_KEY] = nurse.get_session_auth_hash()
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session["last_seen"] = int(time.time())
        session.create()
        keys.append(session.session_key)
    return keys


def _people() -> list[tuple[int, str, str]]:
    from kapstone.patients.models import Patient

    return [
        (pk, last, dob.isoformat())
        for pk, last, dob in Patient.objects.values_list("pk", "last_name", "date_of_birth")
    ]


def _search_path_maker(people):
    def make(rng: random.Random) -> str:
        _, last, dob = rng.choice(people)
        # What someone at the desk types: usually the start of a surname, sometimes a
        # birth date read off a form.
        if rng.random() < 0.2:
            text = dob
        else:
            text = last[: rng.randint(min(3, len(last)), len(last))]
            text = text.lower() if rng.random() < 0.5 else text
        return f"/patients/?q={quote(text)}"

    return make


def _chart_path_maker(people):
    ids = [pk for pk, _, _ in people]

    def make(rng: random.Random) -> str:
        return f"/patients/{rng.choice(ids)}/"

    return make


SCENARIOS = {"search": _search_path_maker, "chart": _chart_path_maker}


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start_server(port: int, workers: int, worker_class: str, threads: int, log):
    argv = [sys.executable, "-m", "kapstone.cli", "serve", "--bind", f"{HOST}:{port}"]
    argv += ["--workers", str(workers), "--worker-class", worker_class]
    argv += ["--threads", str(threads)]
    # Its own session: a Ctrl-C reaches this script, which then stops the server in order.
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _wait_healthy(port: int, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()[-3000:]}")
        try:
            conn = HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /healthz:\n{log_path.read_text()[-3000:]}")


def _check_sessions(port: int, sessions: list[str]) -> None:
    from django.conf import settings

    for key in sessions:
        conn = HTTPConnection(HOST, port, timeout=30)
        conn.request(
            "GET", "/patients/", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={key}"}
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            location = response.getheader("Location", "")
            raise SystemExit(f"a client session was refused: {response.status} {location}")


def _process_tree_ticks(root_pid: int | None) -> int:
    """CPU ticks used so far by a process and its children: gunicorn's master and workers,
    or PostgreSQL's postmaster and backends (with those that have exited)."""
    if root_pid is None:
        return 0
    pids = [root_pid]
    try:
        for task in Path(f"/proc/{root_pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == root_pid:
            total += int(fields[13]) + int(fields[14])  # children that have exited
    return total


def _system_ticks() -> int:
    """Busy CPU ticks over all cores since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal; guest time is already in user.
    return sum(fields[:8]) - fields[3] - fields[4]


# --- the load -------------------------------------------------------------------------------


# gunicorn's default keep-alive timeout is 2 s; close a little earlier to avoid the race.
SERVER_KEEPALIVE_S = 1.5


def _run_scenario(
    port: int,
    sessions: list[str],
    make_path,
    pids: dict,
    warmup: float,
    duration: float,
    think: float = 0.0,
) -> dict:
    from django.conf import settings

    cookie_name = settings.SESSION_COOKIE_NAME
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    samples: list[list[tuple[float, int]]] = [[] for _ in sessions]
    failures: Counter = Counter()

    driver = threading.Thread(
        target=_drive,
        args=(port, sessions, make_path, cookie_name, measure_from, stop_at, think),
        kwargs={"samples": samples, "failures": failures},
        daemon=True,
    )
    driver.start()

    def cpu_ticks() -> dict:
        return {
            "machine": _system_ticks(),
            "load_generator": time.process_time() * CLK_TCK,
            **{name: _process_tree_ticks(pid) for name, pid in pids.items()},
        }

    time.sleep(max(0.0, measure_from - time.perf_counter()))
    before = cpu_ticks()
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    after = cpu_ticks()
    driver.join()

    everything = [s for per_client in samples for s in per_client]
    ok = sorted(latency for latency, status in everything if status == 200)
    statuses = Counter(status for _, status in everything if status != 200)
    means = [sum(lat for lat, _ in mine) / len(mine) for mine in samples if mine]
    cores = {name: (after[name] - before[name]) / CLK_TCK / duration for name in after}
    cores["other_processes"] = cores["machine"] - sum(
        cores[name] for name in ("load_generator", "web_server", "database")
    )
    result = {
        "clients": len(sessions),
        "think_s": think,
        "warmup_s": warmup,
        "duration_s": duration,
        "requests": len(everything),
        "errors": len(everything) - len(ok),
        "error_statuses": {str(k): v for k, v in statuses.items()},
        "exceptions": dict(failures),
        "throughput_rps": round(len(everything) / duration, 1),
        "p50_ms": _percentile_ms(ok, 50),
        "p95_ms": _percentile_ms(ok, 95),
        "p99_ms": _percentile_ms(ok, 99),
        "max_ms": round(ok[-1] * 1000, 1) if ok else None,
        "mean_ms": round(sum(ok) / len(ok) * 1000, 1) if ok else None,
        # Under gthread workers each keep-alive connection stays with the worker that accepted
        # it, so clients that share a busier worker wait longer: the spread of their means
        # shows it.
        "client_mean_ms": {
            "fastest": round(min(means) * 1000, 1) if means else None,
            "slowest": round(max(means) * 1000, 1) if means else None,
        },
        "cpu_cores_used": {name: round(value, 2) for name, value in cores.items()},
        "cpus": os.cpu_count(),
        # What one request costs the server and the database, whatever the queueing.
        "cpu_ms_per_request": round(
            (cores["web_server"] + cores["database"]) * duration * 1000 / max(1, len(everything)),
            1,
        ),
    }
    result["p95_under_target"] = result["p95_ms"] is not None and (
        result["p95_ms"] < TARGET_P95_MS and result["errors"] == 0
    )
    return result


class _Client:
    """One simulated clinician: a session, a connection, and the request in flight."""

    def __init__(self, index: int, head: bytes):
        self.index = index
        self.rng = random.Random(index)
        self.head = head
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.began = 0.0
        self.busy = False


def _drive(
    port, sessions, make_path, cookie_name, measure_from, stop_at, think, *, samples, failures
):
    """Run every client from one thread: requests go out on plain sockets and a selector says
    which answers have arrived. Twenty client threads cost the generator more CPU, and they
    queue for the interpreter lock, which adds their wait to the latencies they measure."""
    selector = selectors.DefaultSelector()
    clients = [
        _Client(i, f"Host: {HOST}:{port}\r\nCookie: {cookie_name}={key}\r\n\r\n".encode())
        for i, key in enumerate(sessions)
    ]
    due = [(0.0, client.index) for client in clients]  # when each idle client sends next

    def close(client: _Client) -> None:
        if client.sock is not None:
            selector.unregister(client.sock)
            client.sock.close()
            client.sock = None
        client.buffer = b""

    def send(client: _Client) -> None:
        client.began = time.perf_counter()
        client.busy = True
        path = make_path(client.rng)
        try:
            if client.sock is None:
                client.sock = socket.create_connection((HOST, port), timeout=60)
                client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(client.sock, selectors.EVENT_READ, client)
            client.sock.sendall(f"GET {path} HTTP/1.1\r\n".encode() + client.head)
        except OSError as error:
            finish(client, 0, type(error).__name__)

    def finish(client: _Client, status: int, error: str | None = None, keep: bool = True):
        now = time.perf_counter()
        if error:
            failures[error] += 1
            keep = False
        if client.began >= measure_from:
            samples[client.index].append((now - client.began, status))
        client.busy = False
        client.buffer = b""
        pause = client.rng.expovariate(1 / think) if think else 0.0
        # The server drops a connection idle this long, and a browser would simply open a new
        # one: do the same rather than count the drop as an error.
        if not keep or pause >= SERVER_KEEPALIVE_S:
            close(client)
        heapq.heappush(due, (now + pause, client.index))

    def received(client: _Client) -> None:
        try:
            data = client.sock.recv(262144)
        except OSError as error:
            if client.busy:
                finish(client, 0, type(error).__name__)
            else:
                close(client)
            return
        if not data:
            if client.busy:
                finish(client, 0, "RemoteDisconnected")
            else:
                close(client)  # an idle keep-alive connection the server ended
            return
        client.buffer += data
        end = client.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = client.buffer[:end].decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:])
        }
        body = client.buffer[end + 4 :]
        if "content-length" in headers:
            if len(body) < int(headers["content-length"]):
                return
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            if not body.endswith(b"0\r\n\r\n"):
                return
        else:
            return  # the body ends when the server closes the connection
        keep = headers.get("connection", "").lower() != "close"
        finish(client, int(head[0].split()[1]), keep=keep)

    while True:
        now = time.perf_counter()
        while due and (due[0][0] <= now or now >= stop_at):
            _, index = heapq.heappop(due)
            if now < stop_at:
                send(clients[index])
        in_flight = [client for client in clients if client.busy]
        if not due and not in_flight:
            break
        if not in_flight and now >= stop_at:
            break
        timeout = max(0.0, due[0][0] - now) if due else 1.0
        for key, _ in selector.select(min(timeout, 1.0)):
            received(key.data)
    for client in clients:
        close(client)
    selector.close()


def _percentile_ms(ordered: list[float], pct: float):
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 1)


# --- reporting ------------------------------------------------------------------------------


def _conditions() -> dict:
    import django
    import gunicorn
    from django.db import connection

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    conditions = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_before_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            conditions["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW fsync")
            conditions["postgresql_fsync"] = cursor.fetchone()[0]
    else:
        conditions["sqlite_options"] = "WAL, synchronous=NORMAL, BEGIN IMMEDIATE (settings.py)"
    return conditions


def _workers(server: dict) -> str:
    if server.get("worker_class", "gthread") == "gthread":
        return f"{server['workers']} gthread workers x {server['threads']} threads"
    return f"{server['workers']} {server['worker_class']} workers"


def _fmt_load(load) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def _print_preamble(report: dict) -> None:
    c, d, s, lo = report["conditions"], report["data"], report["server"], report["load"]
    versions = f"Python {c['python']}, Django {c['django']}, gunicorn {c['gunicorn']}, "
    versions += f"SQLite {c['sqlite']}"
    if "postgresql" in c:
        versions += f", PostgreSQL {c['postgresql']} (fsync {c['postgresql_fsync']})"
    print(
        f"machine: {c['nproc']} CPUs ({c['cpu_model']}), {c['memory_gb']} GB, "
        f"kernel {c['kernel']}, load average {_fmt_load(c['load_average_before_start'])}\n"
        f"{versions}\n"
        f"data: {d['patients']} patients, "
        + ", ".join(f"{n} {k}" for k, n in d["history_rows"].items())
        + f", {d['audit_events_before']} audit events\n"
        f"server: {s['command']}, {_workers(s)}\n"
        f"load: {lo['generator']}; {lo['warmup_s']:.0f} s warm-up, "
        f"{lo['duration_s']:.0f} s measured per scenario",
        flush=True,
    )


def _print_scenario(database: str, name: str, r: dict) -> None:
    cpu = r["cpu_cores_used"]
    print(
        f"{database} {name}: {r['requests']} requests, {r['errors']} errors, "
        f"{r['throughput_rps']} req/s, p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
        f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms -> p95 < {TARGET_P95_MS:.0f} ms: "
        f"{'yes' if r['p95_under_target'] else 'NO'}\n"
        f"  CPU cores busy {cpu['machine']} of {r['cpus']}: web server {cpu['web_server']}, "
        f"database server {cpu['database']}, load generator {cpu['load_generator']}, "
        f"other processes {cpu['other_processes']}; {r['cpu_ms_per_request']} ms of server "
        f"and database CPU a request; {r['audit_events_written']} audit events written; "
        f"client means {r['client_mean_ms']['fastest']} to {r['client_mean_ms']['slowest']} ms",
        flush=True,
    )
    if r["errors"]:
        print(f"  errors: statuses {r['error_statuses']}, exceptions {r['exceptions']}")


def _print_table(reports: list[dict]) -> None:
    header = (
        f"{'database':<9} {'scenario':<17} {'requests':>8} {'errors':>6} {'req/s':>6} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU ms/req':>10}  "
        f"p95<{TARGET_P95_MS:.0f}ms"
    )
    print(header)
    print("-" * len(header))
    for report in reports:
        for name, r in report["scenarios"].items():
            print(
                f"{report['database']:<9} {name:<17} {r['requests']:>8} {r['errors']:>6} "
                f"{r['throughput_rps']:>6.1f} {r['p50_ms']:>7} {r['p95_ms']:>7} "
                f"{r['p99_ms']:>7} {r['max_ms']:>7} {r['cpu_ms_per_request']:>10}  "
                f"{'yes' if r['p95_under_target'] else 'NO'}"
            )
    first = reports[0]
    c = first["conditions"]
    print(
        f"\n{first['data']['patients']} patients; {first['load']['clients']} closed-loop "
        f"clients; server {_workers(first['server'])}; {c['nproc']} CPUs ({c['cpu_model']}).\n"
        "The load generator and the database run on the same machine as the server; the CPU "
        "split (web server, database, load generator, other processes) is printed above and "
        "kept in the JSON."
    )


if __name__ == "__main__":
    sys.exit(main())
