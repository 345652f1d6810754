from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from kapstone.audit.recording import record_standalone


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    record_standalone(actor=user, action="auth.login", target=user, request=request)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record_standalone(actor=user, action="auth.logout", target=user, request=request)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # The attempted user name is recorded (it is a staff account name, not patient data);
    # the password never is.
    record_standalone(
        actor=None,
        action="auth.login_failed",
        target=None,
        request=request,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )
