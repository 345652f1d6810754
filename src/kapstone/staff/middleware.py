from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.utils.functional import SimpleLazyObject

from kapstone.staff import backends


class StaffAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's, except that the staff backend is offered the user read with the session
    (kapstone.staff.sessions) rather than reading them again. Django's checks stay as they
    are: the user must be the one the session names, signed in through a configured
    backend, with an unchanged password and an active account."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))


def _get_user(request):
    if not hasattr(request, "_cached_user"):
        session = request.session
        session.get(auth.SESSION_KEY)  # reads the session, and its user with it
        with backends.offering(getattr(session, "signed_in_user", None)):
            request._cached_user = auth.get_user(request)
    return request._cached_user
