"""Sessions in the database, read with the signed-in member of staff in one prepared query.

Django's database session store, except that:

- the session row names its user (StaffSession.user, set from the session's data whenever it
  is saved), so that loading a session, on every signed-in request, also reads the user,
  their roles and their confirmed authenticators (kapstone.staff.backends), and the request
  makes one round trip to the database for both instead of two;
- the SQL is compiled once per thread instead of being built each time.

Sessions stay in the database, so signing out in one server process ends the session in all
of them at once. The user read here is only offered to the authentication backend, which takes
it when it is the user the session's own data names; Django's checks (the password's session
hash, the backend) run as before.
"""

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.utils import timezone

from kapstone.core.prepared import Prepared, build_instances
from kapstone.staff import backends
from kapstone.staff.models import StaffSession

_SESSION_WIDTH = len(StaffSession._meta.concrete_fields)
_BY_KEY = Prepared(
    lambda key: (
        StaffSession.objects.filter(session_key=key)
        .annotate(confirmed_device=backends.confirmed_devices("user__totpdevice"))
        .values_list(
            *(field.attname for field in StaffSession._meta.concrete_fields),
            *backends.user_columns("user__", "confirmed_device__"),
        )
        .order_by()
    )
)


class SessionStore(db.SessionStore):
    # The user read with the session (see the module), or None.
    signed_in_user = None

    @classmethod
    def get_model_class(cls):
        return StaffSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.user_id = backends.user_id_from(data.get(SESSION_KEY))
        return session

    def _get_session_from_db(self):
        self.signed_in_user = None
        rows = _BY_KEY.rows(self.session_key) if self.session_key else []
        if rows:
            session = build_instances(
                StaffSession, [rows[0][:_SESSION_WIDTH]], StaffSession.objects.db
            )[0]
            # The expiry is compared here rather than in SQL so the query has one parameter;
            # the meaning is Django's: a session is valid while its expiry lies in the future.
            if session.expire_date > timezone.now():
                if session.user_id is not None:
                    self.signed_in_user = backends.user_from_rows(
                        [row[_SESSION_WIDTH:] for row in rows]
                    )
                return session
        self._session_key = None
        return None
