"""Housekeeping of sign-in sessions, run by the background worker."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kapstone.staff.sessions import SessionStore


@db_periodic_task(crontab(hour="3", minute="40"))
def clear_expired_sessions() -> None:
    """Delete sessions past their expiry: they no longer sign anyone in, and Django leaves
    them to a clearsessions run."""
    SessionStore.clear_expired()
