"""The access tables, together, cover every page that is not public."""

import importlib
import pkgutil

from django.urls import URLResolver, get_resolver

import tests.integration
from kapstone.core.permissions import PERMISSION_ATTR, PUBLIC


def _url_names(patterns):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            # The API and the FHIR endpoints have their own guards over their routers.
            if entry.namespace not in ("api", "fhir"):
                yield from _url_names(entry.url_patterns)
        else:
            yield entry.name, entry.callback


def _tested_url_names() -> set[str]:
    names = set()
    for info in pkgutil.iter_modules(tests.integration.__path__):
        if info.name.startswith("test_access_") and info.name != "test_access_guard":
            module = importlib.import_module(f"tests.integration.{info.name}")
            names |= {page.url_name for page in module.PAGES}
    return names


def test_tables_cover_every_page_that_is_not_public():
    # Arrange
    tested = _tested_url_names()

    # Act
    pages = {
        name
        for name, view in _url_names(get_resolver().url_patterns)
        if getattr(view, PERMISSION_ATTR, None) != PUBLIC
    }

    # Assert
    assert pages == tested
