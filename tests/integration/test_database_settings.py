"""PostgreSQL connection settings read from DATABASE_URL."""

import pytest
from django.db import connection

from kapstone import settings


def test_prepared_statements_keep_one_plan_and_the_urls_own_options(monkeypatch):
    monkeypatch.setenv(
        "DATABASE_URL", "postgres://u@127.0.0.1:5432/k?options=-c%20statement_timeout%3D5000"
    )
    options = settings._database()["OPTIONS"]["options"]
    assert options == "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan"
    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/k")
    assert settings._database()["OPTIONS"]["options"] == "-c plan_cache_mode=force_generic_plan"


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_the_connection_plans_each_prepared_statement_once():
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"


def test_postgresql_urls_use_kapstones_backend_and_others_are_left_alone(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/k")
    config = settings._database()
    assert config["ENGINE"] == "kapstone.core.postgresql"
    assert config["CONN_HEALTH_CHECKS"] is True
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite3")
    assert settings._database()["ENGINE"] == "django.db.backends.sqlite3"


@pytest.fixture
def health_checks(monkeypatch):
    """Count the connection's health checks (Django's SELECT 1)."""
    from kapstone.core.postgresql import base

    checks = []
    real = connection.is_usable

    def is_usable():
        checks.append(1)
        return real()

    connection.ensure_connection()
    # As DATABASE_URL configures it (see kapstone.settings).
    assert connection.health_check_enabled
    monkeypatch.setattr(connection, "is_usable", is_usable)
    return checks, base


def _idle_past_the_trusted_time(base):
    connection.answered_at -= base.TRUSTED_SECONDS + 0.1


def _request_using_the_database():
    connection.close_if_unusable_or_obsolete()  # request_started
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close_if_unusable_or_obsolete()  # request_finished


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_just_served_a_request_is_reused_without_a_health_check(
    health_checks,
):
    checks, _ = health_checks
    _request_using_the_database()
    checks.clear()
    _request_using_the_database()
    _request_using_the_database()
    assert checks == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_idle_past_the_trusted_time_is_checked_first(health_checks):
    checks, base = health_checks
    _request_using_the_database()
    _idle_past_the_trusted_time(base)
    checks.clear()
    _request_using_the_database()
    assert checks == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_requests_that_do_not_use_the_connection_do_not_extend_its_trust(health_checks):
    checks, base = health_checks
    _request_using_the_database()
    _idle_past_the_trusted_time(base)
    connection.close_if_unusable_or_obsolete()  # a request without queries starts
    connection.close_if_unusable_or_obsolete()  # and finishes
    checks.clear()
    _request_using_the_database()
    assert checks == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_replaced_by_the_health_check(health_checks):
    checks, base = health_checks
    _request_using_the_database()
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        old_pid = cursor.fetchone()[0]
    _idle_past_the_trusted_time(base)
    # The server ends the connection while it sits idle between requests.
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    finally:
        other.close()
    connection.close_if_unusable_or_obsolete()
    checks.clear()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid
    assert checks == [1]


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_times_are_read_by_the_compiled_loader_in_utc(make_patient):
    import datetime
    from zoneinfo import ZoneInfo

    from django.db import transaction

    from kapstone.core.postgresql.base import UtcTimestamptzLoader
    from kapstone.patients.models import Patient

    connection.ensure_connection()
    assert connection.compiled_timestamptz
    with connection.cursor() as cursor:
        oid = cursor.adapters.types["timestamptz"].oid
        assert cursor.adapters.get_loader(oid, 0) is UtcTimestamptzLoader
        new_york = datetime.datetime(
            2026, 3, 8, 1, 59, 59, 999999, tzinfo=ZoneInfo("America/New_York")
        )
        cursor.execute(
            "SELECT %s::timestamptz, '2026-11-22 00:00:00.000001+05:30'::timestamptz", [new_york]
        )
        read, written_in = cursor.fetchone()
    assert read == new_york and read.tzinfo is datetime.UTC
    assert written_in == datetime.datetime(2026, 11, 21, 18, 30, 0, 1, tzinfo=datetime.UTC)
    patient = make_patient()
    again = Patient.objects.get(pk=patient.pk)
    assert again.created_at == patient.created_at
    assert again.created_at.tzinfo is datetime.UTC
    # A server-side cursor (iterator()) takes the same loader.
    with transaction.atomic():
        (streamed,) = Patient.objects.filter(pk=patient.pk).iterator(chunk_size=1)
    assert streamed.created_at == patient.created_at
    assert streamed.created_at.tzinfo is datetime.UTC


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_another_database_time_zone_keeps_djangos_loader():
    import datetime
    from zoneinfo import ZoneInfo

    from kapstone.core.postgresql.base import DatabaseWrapper

    paris = DatabaseWrapper({**connection.settings_dict, "TIME_ZONE": "Europe/Paris"}, "paris")
    try:
        paris.ensure_connection()
        assert not paris.compiled_timestamptz
        with paris.cursor() as cursor:
            cursor.execute("SELECT '2026-07-01 12:00:00+00'::timestamptz")
            (read,) = cursor.fetchone()
        assert read == datetime.datetime(2026, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
        assert read.tzinfo == ZoneInfo("Europe/Paris")
    finally:
        paris.close()
