"""Headless Chromium driven through Playwright against pytest-django's live server."""

import os

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect, sync_playwright

# Debian's build: Playwright's own browser download is not used, so CI and developers run
# the same Chromium that `scripts/system-deps.sh` installs.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    # Containers and CI runners often lack the user namespaces Chromium's sandbox needs.
    "--no-sandbox",
    "--disable-gpu",
    # /dev/shm is tiny in containers; Chromium crashes on large pages without this.
    "--disable-dev-shm-usage",
    # Keep the browser from phoning home: the tests talk to the live server and nothing else.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Short enough that a missing element fails the test in seconds, long enough for a cold start.
TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery staple"

_ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="package")
def browser():
    """One Chromium for all browser tests, closed when they are done.

    Playwright's sync API keeps an asyncio event loop running on the test thread, so Django
    takes every ORM call the test makes (set-up, assertions, the database flush afterwards)
    for a call from async code and refuses it with SynchronousOnlyOperation. Nothing here is
    async: the test thread waits for each browser step, and the live server answers requests
    on its own thread. So Django's check is switched off, but only while the browser runs,
    leaving it on for the rest of the suite.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    expect.set_options(timeout=TIMEOUT_MS)
    previous = os.environ.get(_ASYNC_UNSAFE)
    os.environ[_ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop(_ASYNC_UNSAFE, None)
        else:
            os.environ[_ASYNC_UNSAFE] = previous


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) per test, its addresses relative to the server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def current_code(user) -> str:
    """The code the user's authenticator app would show now."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return str(code).zfill(device.digits)


def _sign_in(page: Page, user, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if user.needs_two_factor:
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        page.get_by_label("6-digit code from your authenticator app").fill(current_code(user))
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()


@pytest.fixture
def sign_in():
    """Sign in through the real log-in page, and the code page when the role needs one."""
    return _sign_in


@pytest.fixture
def make_user(make_staff):
    """Staff in the given roles who can sign in with the shared test password."""

    def make(*roles):
        return make_staff(*roles, password=PASSWORD)

    return make
