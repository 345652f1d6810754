"""What `kapstone serve` runs beside gunicorn: the background worker, an access log that
never writes a check-in link's token, and the loading done once before gunicorn forks.

The worker (`kapstone worker`, Huey's consumer) sends alert e-mails, makes scheduled check-ins
and sends reminders. It runs as a child process of the server, started before gunicorn and
stopped when gunicorn exits. If it dies, the server logs an error and starts it again (after
1 s, doubling to at most a minute while it keeps dying): stopping the whole server instead
would take the clinic's pages down in the middle of a dosing day for want of e-mails, and the
dashboard shows alerts whether or not their mail has gone. The worker watches its parent in
turn and stops if the server is gone (killed outright), so it is never left running alone.
"""

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from gunicorn.glogging import Logger

from kapstone.core.logging import redact_checkin_tokens

log = logging.getLogger("kapstone.worker")


class AccessLogger(Logger):
    """gunicorn's logger, with check-in tokens taken out of every access-log field (the path,
    the request line, a referring address)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_checkin_tokens(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


def prepare_workers() -> None:
    """Load before gunicorn forks what each worker would otherwise load on its first
    requests (the questionnaire definitions, the URL configuration, Kapstone's templates), then
    freeze the loaded objects out of the garbage collector's sight.

    The app holds about 700,000 objects once loaded (the ICD-10-CM code table is most of
    them). Unfrozen, each worker's occasional full collection walked them all: about 190 ms
    with a request waiting, and a write to every page they sit on, which the fork had
    shared. Nothing here opens a database connection, which a fork must not share.
    """
    from django.db import connections
    from django.template import engines
    from django.urls import get_resolver

    from kapstone.clinical import instruments

    instruments.all_instruments()
    # Reading the reverse table imports every view module and fills the table in.
    get_resolver().reverse_dict  # noqa: B018
    ours = Path(__file__).resolve().parents[1]
    for engine in engines.all():
        for folder in map(Path, engine.template_dirs):
            if folder.resolve().is_relative_to(ours):
                for path in sorted(folder.rglob("*.html")):
                    engine.get_template(path.relative_to(folder).as_posix())
    connections.close_all()
    gc.collect()
    gc.freeze()


RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 60.0
# A worker that ran this long before dying is restarted quickly again.
HEALTHY_AFTER = 60.0
STOP_TIMEOUT = 10.0


class BackgroundWorker:
    def __init__(self, command: list[str] | None = None):
        self.owner = os.getpid()
        self.command = command or [
            sys.executable,
            "-m",
            "kapstone.cli",
            "worker",
            "--parent-pid",
            str(self.owner),
        ]
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> "BackgroundWorker":
        self._spawn()
        threading.Thread(target=self._watch, name="kapstone-worker-watch", daemon=True).start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            # Its own session: a Ctrl-C in the terminal reaches the server, which then stops
            # the worker itself, rather than both at once (which would look like a crash).
            self.process = subprocess.Popen(self.command, start_new_session=True)  # noqa: S603
            log.info("background worker started (pid %s)", self.process.pid)

    def _watch(self) -> None:
        delay = RESTART_FIRST_DELAY
        while not self._stopping.is_set():
            started = time.monotonic()
            while self.process.poll() is None:
                if self._stopping.wait(0.5):
                    return
            if self._stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_AFTER:
                delay = RESTART_FIRST_DELAY
            log.error(
                "background worker (pid %s) stopped unexpectedly; restarting in %.0f s",
                self.process.pid,
                delay,
            )
            if self._stopping.wait(delay):
                return
            self._spawn()
            delay = min(delay * 2, RESTART_MAX_DELAY)

    def stop(self) -> None:
        # gunicorn's own workers are forks of this process and run its exit handlers when
        # they end; only the process that started the worker stops it.
        if os.getpid() != self.owner:
            return
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # Huey finishes the task in hand, then exits.
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("background worker stopped")


def watch_parent(parent_pid: int, interval: float = 2.0) -> None:
    """In the worker: stop (as on Ctrl-C) once the server that started it has gone."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="kapstone-parent-watch", daemon=True).start()
