import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.access.roles import Permission, Role
from kapstone.audit.recording import record
from kapstone.core.forms import apply_domain_errors
from kapstone.core.permissions import public, requires, signed_in
from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.staff import actions
from kapstone.staff.forms import StaffForm
from kapstone.staff.models import User


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


class StaffLoginView(LoginView):
    template_name = "staff/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["expired"] = "expired" in self.request.GET
        return context


login_view = public(StaffLoginView.as_view())


def _safe_next(request):
    """Where the user was going before the second step, if it is a page of this site."""
    target = request.session.pop("after_verify", None)
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "home"


@public
def login_verify(request):
    """Second step for staff who have an authenticator set up."""
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if user.is_verified():
        return redirect("home")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None and device.verify_token(form.cleaned_data["token"].strip()):
            otp_login(request, device)
            record(actor=user, action="auth.two_factor_ok", target=user)
            return redirect(_safe_next(request))
        record(actor=user, action="auth.two_factor_failed", target=user)
        form.add_error("token", "That code is not right, or has expired. Try the current one.")
    return render(request, "staff/verify.html", {"form": form})


@public
def two_factor_setup(request):
    """First sign-in for a clinical role: pair an authenticator app."""
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if user.has_totp_device:
        # Pairing is only for staff with no authenticator yet. Anyone else proves the one they
        # have; otherwise a password alone could pair a new device and pass the second step.
        return redirect("home" if user.is_verified() else "login_verify")
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, confirmed=False, defaults={"name": "authenticator"}
    )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            otp_login(request, device)
            record(actor=user, action="auth.two_factor_enrolled", target=user)
            messages.success(request, "Two-factor sign-in is set up.")
            return redirect("home")
        form.add_error("token", "That code is not right. Check the clock on your phone.")
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4)
    secret = device.config_url.split("secret=")[1].split("&")[0]
    return render(request, "staff/setup.html", {"form": form, "qr": qr, "secret": secret})


@require_POST
@public
def logout_view(request):
    logout(request)
    return redirect("login")


@signed_in
def account(request):
    return render(request, "staff/account.html")


@requires(Permission.STAFF_VIEW)
def staff_list(request):
    staff = (
        User.objects.filter(is_active=True)
        .prefetch_related("role_rows", "sites")
        .order_by("last_name", "first_name")
    )
    paired = set(
        TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True).distinct()
    )
    return render(request, "staff/list.html", {"staff": staff, "paired": paired})


@requires(Permission.STAFF_MANAGE)
def staff_new(request):
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = actions.create_staff(
                by=request.user,
                username=data["username"].strip(),
                password=data["password"],
                roles=[Role(r) for r in data["roles"]],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                credentials=data["credentials"],
                sites=data["sites"],
            )
        except (InvalidInput, InvalidInputs) as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, f"Added {user.display_name}.")
            return redirect("staff_list")
    return render(
        request,
        "patients/form.html",
        {"form": form, "title": "Add a member of staff", "cancel": "/staff/"},
        status=422 if form.errors else 200,
    )


@requires(Permission.STAFF_MANAGE)
@require_POST
def staff_reset_two_factor(request, pk):
    member = get_object_or_404(User, pk=pk)
    actions.reset_two_factor(by=request.user, user=member)
    messages.success(
        request, f"{member.display_name} will pair a new authenticator at their next sign-in."
    )
    return redirect("staff_list")


urlpatterns = [
    path("staff/", staff_list, name="staff_list"),
    path("staff/new/", staff_new, name="staff_new"),
    path("staff/<int:pk>/reset-two-factor/", staff_reset_two_factor, name="staff_reset_two_factor"),
    path("login/", login_view, name="login"),
    path("login/verify/", login_verify, name="login_verify"),
    path("account/two-factor/", two_factor_setup, name="two_factor_setup"),
    path("logout/", logout_view, name="logout"),
    path("account/", account, name="account"),
]
