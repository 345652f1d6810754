import time

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware

from kapstone.core.permissions import PERMISSION_ATTR, PUBLIC

_TOUCH_EVERY = 60


class IdleTimeoutMiddleware:
    """Sign out after SESSION_IDLE_SECONDS without a request.

    The session's expiry moves forward at most once a minute, which keeps page views from
    each writing the session row while still timing out within a minute of the limit.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get("last_seen", now)
            if now - last > settings.SESSION_IDLE_SECONDS:
                logout(request)
                return redirect(f"{reverse('login')}?expired=1")
            if now - last >= _TOUCH_EVERY or "last_seen" not in request.session:
                request.session["last_seen"] = now
        return self.get_response(request)


class VerifiedDeviceMiddleware(OTPMiddleware):
    """django-otp's middleware (``request.user.otp_device``, ``user.is_verified()``), taking
    the session's device from the confirmed devices the staff backend loaded with the user
    (kapstone.staff.backends) instead of reading it again.

    The device must still be the user's and confirmed; one removed by an authenticator reset
    is gone from that list on the next request, so the session stops counting as verified.
    """

    def _verify_user_sync(self, request, user):
        loaded = getattr(user, "confirmed_totp_devices", None)
        if loaded is None:
            return super()._verify_user_sync(request, user)
        self._init_user_fields(user)
        if user.is_authenticated:
            persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
            device = None
            if persistent_id:
                device = loaded.get(self._normalize_persistent_id(persistent_id))
            user.otp_device = self._finalize_device(request, user, device)
        return user


class TwoFactorMiddleware:
    """Staff in clinical roles reach nothing but the two-factor pages until verified."""

    ALLOWED = ("login_verify", "two_factor_setup", "logout", "login")

    def __init__(self, get_response):
        self.get_response = get_response

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or not user.needs_two_factor or user.is_verified():
            return None
        match = request.resolver_match
        if match is None or match.url_name in self.ALLOWED or match.namespace == "api":
            return None
        if getattr(view_func, PERMISSION_ATTR, None) == PUBLIC:
            return None
        if request.method == "GET":
            request.session["after_verify"] = request.get_full_path()
        if user.has_totp_device:
            return redirect("login_verify")
        return redirect("two_factor_setup")

    def __call__(self, request):
        return self.get_response(request)


class RequirePermissionMiddleware:
    """Deny by default: a view must declare a permission, or be marked public."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is not None and match.namespace == "api":
            # The API checks its token and each operation's permission itself.
            return None
        if request.path.startswith(settings.STATIC_URL):
            return None
        declared = getattr(view_func, PERMISSION_ATTR, None)
        if declared is None:
            raise PermissionDenied("this page declares no permission")
        if declared != PUBLIC and not request.user.is_authenticated:
            if match is not None and match.namespace == "fhir":
                # FHIR clients carry a bearer token, which the marked view checks itself.
                return None
            return redirect(f"{reverse('login')}?next={request.path}")
        return None
