"""Django's PostgreSQL backend, except that a connection which has just served a request is
not checked again before the next one.

With health checks on (``CONN_HEALTH_CHECKS``), Django sends ``SELECT 1`` before the first
query of every request, so that a kept connection the server has dropped is replaced instead
of failing the request. That was one round trip in five on the chart and the patient list,
about 0.2 ms of web server and database CPU each time. A connection that finished a request
with its queries answered less than ``TRUSTED_SECONDS`` ago is reused without the check; one
idle for longer is checked as before. What is given up: if the database restarts within that
second, a worker's next request fails once (its connection is then closed and the following
request opens a new one), as it would with health checks off.
"""

import time

from django.db.backends.postgresql import base

TRUSTED_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # When the connection last answered a request's queries (time.monotonic()).
        self.answered_at = None

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
