"""Run Kapstone under gunicorn (a production WSGI server) bound to loopback by default."""

import atexit
import multiprocessing

from django.core.management.base import BaseCommand
from gunicorn.app.base import BaseApplication

from kapstone.core import serving
from kapstone.wsgi import application


class _App(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return application


class Command(BaseCommand):
    help = "Serve the web app (gunicorn)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        # Sync workers, one request at a time each, two per core so that one waiting on the
        # database leaves no core idle. Each request takes the next free worker, whereas a
        # threaded worker keeps every keep-alive connection it accepted, and the clients of
        # the busier one waited longest (bench/: the slowest client's mean was up to four
        # times the fastest's; with sync workers every client's mean was within a few per
        # cent). Keep-alive is the proxy's job (docs/operations.md).
        parser.add_argument("--workers", type=int, default=2 * multiprocessing.cpu_count())
        parser.add_argument(
            "--worker-class",
            choices=["sync", "gthread"],
            default="sync",
            help="gthread: threaded workers that keep connections alive (see --threads)",
        )
        parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
        parser.add_argument("--access-log", action="store_true", help="log requests (paths only)")
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the background worker here"
        )

    def handle(
        self, *args, bind, workers, worker_class, threads, access_log, no_worker=False, **options
    ):
        self.stdout.write(f"Kapstone is serving on http://{bind}/ (Ctrl-C to stop)")
        if not no_worker:
            # Started before gunicorn, stopped when it exits (kapstone.core.serving).
            atexit.register(serving.BackgroundWorker().start().stop)
        serving.prepare_workers()
        _App(
            {
                "bind": bind,
                "workers": workers,
                # gunicorn turns sync workers into gthread ones when given more than one thread.
                "threads": threads if worker_class == "gthread" else 1,
                "worker_class": worker_class,
                # Path only: query strings carry search terms, which can be patient names.
                "accesslog": "-" if access_log else None,
                "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(M)sms',
                # Check-in links carry their token in the path: logged as /c/[link].
                "logger_class": serving.AccessLogger,
                "timeout": 60,
                # No control socket in the user's home directory: nothing here uses it.
                "control_socket_disable": True,
            }
        ).run()
