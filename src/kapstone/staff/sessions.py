"""Sessions in the database, read with one prepared query.

Django's database session store, except that loading a session (every signed-in request)
runs SQL compiled once per thread instead of building the query each time. Sessions stay in
the database, so signing out in one server process ends the session in all of them at once.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from kapstone.core.prepared import Prepared

_BY_KEY = Prepared(lambda key: Session.objects.filter(session_key=key))


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        found = _BY_KEY.instances(self.session_key) if self.session_key else []
        # The expiry is compared here rather than in SQL so the query has one parameter; the
        # meaning is Django's: a session is valid while its expiry lies in the future.
        if found and found[0].expire_date > timezone.now():
            return found[0]
        self._session_key = None
        return None
