"""Django settings, read from the environment.

KAPSTONE_DATA_DIR  where the SQLite database and the generated secret key live (./var)
DATABASE_URL       postgres://... in production; SQLite in the data dir when unset
SECRET_KEY         required when KAPSTONE_ENV=production; generated and kept in the data
                   dir otherwise
KAPSTONE_SESSION_IDLE_MINUTES  sign out after this much inactivity (15)
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("KAPSTONE_DATA_DIR", Path.cwd() / "var")).resolve()
ENVIRONMENT = os.environ.get("KAPSTONE_ENV", "development")
DEBUG = os.environ.get("KAPSTONE_DEBUG", "") == "1"


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    if ENVIRONMENT == "production":
        raise RuntimeError("SECRET_KEY must be set in production")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "huey.contrib.djhuey",
    "kapstone.core",
    "kapstone.staff",
    "kapstone.audit",
    "kapstone.patients",
    "kapstone.assessments",
    "kapstone.treatment",
    "kapstone.dosing",
    "kapstone.ledger",
    "kapstone.credentials",
    "kapstone.integration",
    "kapstone.scheduling",
    "kapstone.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kapstone.audit.context.AuditContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "kapstone.staff.middleware.StaffAuthenticationMiddleware",
    "kapstone.core.middleware.VerifiedDeviceMiddleware",
    "kapstone.core.middleware.IdleTimeoutMiddleware",
    "kapstone.core.middleware.TwoFactorMiddleware",
    "kapstone.core.middleware.RequirePermissionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kapstone.urls"
WSGI_APPLICATION = "kapstone.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kapstone.core.context_processors.clinic",
            ],
            # {% url %} reversing each route once rather than once per link.
            "builtins": ["kapstone.core.templatetags.cached_url"],
        },
    },
    # The patient list and the chart (each app's jinja2/ folder), searched second: ADR 0012.
    {
        "BACKEND": "kapstone.core.jinja.Jinja2",
        "NAME": "jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "kapstone.core.jinja.environment",
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kapstone.core.context_processors.clinic",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Django's, without the health check's extra round trip on a connection that
            # has just served a request (see its module).
            config["ENGINE"] = "kapstone.core.postgresql"
        # Client-side binding (psycopg's default here) stays: server-side binding, with its
        # prepared statements, cost the chart about 40% more CPU in the web server and twice
        # as much in the database, measured with 10,000 patients.
        # Kapstone's own prepared statements (kapstone.core.prepared) are planned once per
        # connection: left to choose, PostgreSQL planned a name search afresh on every run
        # (0.7 ms of planning for 0.8 ms of running) for the plan the generic one already
        # was. Queries with values written in (the ORM's) are unaffected.
        options = config.setdefault("OPTIONS", {})
        options["options"] = " ".join(
            filter(None, [options.get("options"), "-c plan_cache_mode=force_generic_plan"])
        )
        config.setdefault("TEST", {})
        return config
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "kapstone.sqlite3",
        # Keep each server thread's connection between requests, as for PostgreSQL above:
        # opening one (the pragmas, reading the schema, registering Django's SQL functions)
        # cost about a quarter of a chart view's time.
        "CONN_MAX_AGE": 60,
        "OPTIONS": {
            # Writers take the lock when their transaction begins, so two writers never
            # deadlock upgrading a read lock; WAL lets readers run beside one writer.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "staff.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "kapstone.staff.backends.StaffBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

# Sessions end after inactivity; the idle middleware refreshes the expiry at most once a
# minute so that every page view is not also a database write.
# Sessions live in the database, loaded with one prepared query (kapstone.staff.sessions);
# not cached per process, because signing out must end a session in every process at once.
SESSION_ENGINE = "kapstone.staff.sessions"
SESSION_IDLE_SECONDS = int(os.environ.get("KAPSTONE_SESSION_IDLE_MINUTES", "15")) * 60
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE = ENVIRONMENT == "production"
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# Throttle guessing: five failures for one user name from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("KAPSTONE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "staff/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False

OTP_TOTP_ISSUER = "Kapstone"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("KAPSTONE_TIME_ZONE", "America/New_York")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the app directories: the demo runs without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Patient data never reaches the logs: requests are logged by path only (the access log
# format leaves out query strings, where searches carry names), and Django's error reports
# are switched off in favour of a plain line naming the view.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"scrub": {"()": "kapstone.core.logging.ScrubFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["scrub"]}
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

KAPSTONE_DEMO_SEED = int(os.environ.get("KAPSTONE_DEMO_SEED", "20261121"))

# The background worker (Huey): alert e-mails, check-in reminders and scheduled check-ins.
# `kapstone serve` starts it beside the web server. Its queue is a SQLite file in the data
# directory on every database (it holds task ids only, never patient data), so the worker
# needs nothing beyond what the app already has.
HUEY = {
    "huey_class": "huey.SqliteHuey",
    "name": "kapstone",
    "filename": str(DATA_DIR / "tasks.sqlite3"),
    "immediate": os.environ.get("KAPSTONE_TASKS_IMMEDIATE", "") == "1",
    "utc": True,
    "consumer": {"workers": 1, "worker_type": "thread", "periodic": True},
}

# matplotlib (the score pictures) keeps its font cache here rather than in a home directory the
# server's user may not be able to write, which would rebuild the cache in every process.
os.environ.setdefault("MPLCONFIGDIR", str(DATA_DIR / "matplotlib"))

# E-mail: the console in development (mail is printed, not sent); SMTP from the environment
# in production.
EMAIL_BACKEND = os.environ.get(
    "KAPSTONE_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("KAPSTONE_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("KAPSTONE_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("KAPSTONE_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KAPSTONE_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("KAPSTONE_EMAIL_TLS", "") == "1"
DEFAULT_FROM_EMAIL = os.environ.get("KAPSTONE_EMAIL_FROM", "Kapstone <no-reply@localhost>")
# The address links in e-mails point at (the patient's check-in page, a clinician's alert).
KAPSTONE_BASE_URL = os.environ.get("KAPSTONE_BASE_URL", "http://127.0.0.1:8000")
