"""Django's PostgreSQL backend, except that a connection which has just served a request is
not checked again before the next one, and times with a time zone are read by the driver's
compiled loader.

With health checks on (``CONN_HEALTH_CHECKS``), Django sends ``SELECT 1`` before the first
query of every request, so that a kept connection the server has dropped is replaced instead
of failing the request. That was one round trip in five on the chart and the patient list,
about 0.2 ms of web server and database CPU each time. A connection that finished a request
with its queries answered less than ``TRUSTED_SECONDS`` ago is reused without the check; one
idle for longer is checked as before. What is given up: if the database restarts within that
second, a worker's next request fails once (its connection is then closed and the following
request opens a new one), as it would with health checks off.

Django reads every ``timestamptz`` through a loader of its own written in Python, which parses
the text and then sets the time zone Django expects, so that the value is right whichever time
zone the connection uses. Django sets the connection's time zone to its own, and with UTC
(``USE_TZ`` and no database ``TIME_ZONE``: Kapstone's settings) psycopg's compiled loader
already gives exactly that: the same moment, with ``datetime.timezone.utc``. Each page of 25
patients reads 50 such values; Django's loader took about 0.4 ms of the search's web server
time for them. Any other time zone keeps Django's loader.
"""

import datetime
import time

from django.db.backends.postgresql import base
from psycopg.adapt import Loader

try:
    from psycopg._cmodule import _psycopg

    _COMPILED_TIMESTAMPTZ = _psycopg.TimestamptzLoader
except (ImportError, AttributeError):  # psycopg without its compiled part
    _COMPILED_TIMESTAMPTZ = None


class UtcTimestamptzLoader(Loader):
    """psycopg's compiled timestamptz loader, naming (as Django's loaders do, and as Django
    checks before each cursor) the time zone its values come in: UTC, the connection's."""

    timezone = datetime.UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self._load = _COMPILED_TIMESTAMPTZ(oid, context).load

    def load(self, data):
        return self._load(data)


TRUSTED_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # When the connection last answered a request's queries (time.monotonic()).
        self.answered_at = None
        # Whether the open connection reads timestamptz with the compiled loader.
        self.compiled_timestamptz = False

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        self.compiled_timestamptz = (
            _COMPILED_TIMESTAMPTZ is not None and self.timezone is datetime.UTC
        )
        if self.compiled_timestamptz:
            connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
        return connection

    def close_if_unusable_or_obsolete(self):
        # Called when a request starts and when it finishes. health_check_done is set by the
        # first cursor of a request (checked, trusted, or newly connected) and cleared here,
        # so it tells whether the request now ending used the connection.
        used = self.connection is not None and self.health_check_done
        super().close_if_unusable_or_obsolete()
        if self.connection is None:
            self.answered_at = None
        elif used:
            # Still open: no error, or an error after which the connection proved usable.
            self.answered_at = time.monotonic()

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self.answered_at is not None
            and time.monotonic() - self.answered_at < TRUSTED_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close(self):
        super().close()
        self.answered_at = None
