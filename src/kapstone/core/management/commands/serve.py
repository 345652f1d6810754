"""Run Kapstone under gunicorn (a production WSGI server) bound to loopback by default."""

import multiprocessing

from django.core.management.base import BaseCommand
from gunicorn.app.base import BaseApplication

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
        parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
        # Two threads per worker gave the shortest tails on a 2-core machine (bench/): more
        # threads only queue CPU-bound requests behind the GIL.
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--access-log", action="store_true", help="log requests (paths only)")

    def handle(self, *args, bind, workers, threads, access_log, **options):
        self.stdout.write(f"Kapstone is serving on http://{bind}/ (Ctrl-C to stop)")
        _App(
            {
                "bind": bind,
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                # Path only: query strings carry search terms, which can be patient names.
                "accesslog": "-" if access_log else None,
                "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(M)sms',
                "timeout": 60,
                # No control socket in the user's home directory: nothing here uses it.
                "control_socket_disable": True,
            }
        ).run()
