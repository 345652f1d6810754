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
