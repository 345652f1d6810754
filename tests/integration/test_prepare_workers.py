"""What `kapstone serve` loads before gunicorn forks its workers (serving.prepare_workers)."""

import gc

import pytest
from django.db import connections
from django.template import engines

from kapstone.core import serving


@pytest.fixture
def unfreeze():
    yield
    gc.unfreeze()


def test_workers_start_with_everything_loaded_and_frozen(unfreeze):
    serving.prepare_workers()
    assert gc.get_freeze_count() > 100_000
    # Kapstone's templates, in both engines, are compiled already.
    django_cache = engines["django"].engine.template_loaders[0].get_template_cache
    assert {"base.html", "core/_nav.html", "patients/form.html"} <= set(django_cache)
    jinja_cache = engines["jinja2"].env.cache
    assert any(key[1] == "patients/chart.html" for key in jinja_cache)
    # A connection left open here would be shared by every forked worker. (Django never
    # closes an in-memory SQLite database, the test database on SQLite: checked on PostgreSQL.)
    assert all(
        connection.connection is None
        or (connection.vendor == "sqlite" and connection.is_in_memory_db())
        for connection in connections.all()
    )
