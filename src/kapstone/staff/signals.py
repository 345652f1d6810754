from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from kapstone.audit.recording import record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    record(actor=user, action="auth.login", target=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record(actor=user, action="auth.logout", target=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # The attempted user name is recorded (it is a staff account name, not patient data);
    # the password never is.
    record(
        actor=None,
        action="auth.login_failed",
        target=None,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )
