"""Run the background worker: Huey's consumer, with the project's log filter.

`kapstone serve` starts this beside the web server; run it alone when the web server runs
elsewhere (`kapstone serve --no-worker`). One worker per deployment: the periodic run makes
each scheduled check-in once either way, but two would send e-mails from two places.
"""

import argparse
import logging

from django.core.management import call_command
from django.core.management.base import BaseCommand

from kapstone.core.logging import ScrubFilter
from kapstone.core.serving import watch_parent


def _scrubbed_huey_log() -> None:
    # Huey logs a failed task's exception, whose message can carry data (an SMTP error
    # quoting an address): the same filter as the app's own log. Warnings and errors only:
    # the periodic run would otherwise write two lines a minute.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(ScrubFilter())
    logger = logging.getLogger("huey")
    logger.handlers = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False


class Command(BaseCommand):
    help = "Run the background worker (alert e-mails, scheduled check-ins, reminders)."
    # The web server runs the checks; the worker starts in half the time without them.
    requires_system_checks = []

    def add_arguments(self, parser):
        # Set by `kapstone serve`: stop when the server that started this worker is gone.
        parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)

    def handle(self, *args, parent_pid=None, **options):
        _scrubbed_huey_log()
        if parent_pid:
            watch_parent(parent_pid)
        logging.getLogger("kapstone.worker").info("background worker running")
        call_command("run_huey")
