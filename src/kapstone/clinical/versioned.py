"""Versioned reviewed data: one TOML file per version (``data/<folder>/v<n>.toml``).

A record keeps the version it was decided under, so a new file never changes an old decision;
the newest version is the default for new work. Clinic overrides are merged with
``config.merge`` (unknown keys refused), restricted to what a clinic may change. Pure Python.
"""

import re
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from kapstone.clinical.config import merge
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.errors import InvalidInput

_VERSION = re.compile(r"v(\d+)")


def versions(folder: str) -> tuple[str, ...]:
    """The shipped versions, oldest first."""
    names = [
        entry.name.removesuffix(".toml")
        for entry in resources.files("kapstone.clinical").joinpath(folder).iterdir()
        if entry.name.endswith(".toml")
    ]
    valid = (name for name in names if _VERSION.fullmatch(name))
    return tuple(sorted(valid, key=lambda name: int(name[1:])))


@cache
def _shipped(folder: str, version: str) -> dict[str, Any]:
    text = resources.files("kapstone.clinical").joinpath(f"{folder}/{version}.toml").read_text()
    return tomllib.loads(text)


def load(
    folder: str,
    version: str | None,
    overrides: Mapping[str, Any] | None,
    *,
    field: str,
    allowed: Mapping[str, Iterable[str]],
) -> tuple[str, dict[str, Any], frozenset[str]]:
    """The version's data with overrides merged, and the names of the entries they changed.

    ``allowed`` maps each overridable table (e.g. ``rules``) to the keys a clinic may change in
    its entries; ``"*"`` allows any key but a label or a source. Refused: an unknown
    version (InvalidInput naming ``field``), a table, entry or key that is not overridable
    (DefinitionError).
    """
    shipped = versions(folder)
    version = version or shipped[-1]
    if version not in shipped:
        raise InvalidInput(field, f"must be one of {', '.join(shipped)}")
    overrides = dict(overrides or {})
    changed: set[str] = set()
    where = f"{folder} {version}"
    for table, entries in overrides.items():
        if table not in allowed:
            raise DefinitionError(f"{where}: {table} is not a clinic setting")
        if not isinstance(entries, dict):
            raise DefinitionError(f"{where}.{table}: must be a table")
        keys = frozenset(allowed[table])
        for name, changes in entries.items():
            if not isinstance(changes, dict):
                # A flat table (e.g. [measuring]): the key itself is the setting.
                if _reviewed_text(name) or ("*" not in keys and name not in keys):
                    raise DefinitionError(f"{where}.{table}.{name}: not a clinic setting")
            else:
                refused = sorted(
                    key
                    for key in changes
                    if _reviewed_text(key) or ("*" not in keys and key not in keys)
                )
                refused += sorted(_nested_reviewed_text(changes))
                if refused:
                    raise DefinitionError(
                        f"{where}.{table}.{name}: not a clinic setting: {', '.join(refused)}"
                    )
            changed.add(f"{table}.{name}")
    try:
        merged = merge(_shipped(folder, version), overrides)
    except KeyError as error:
        raise DefinitionError(f"{where}: {error.args[0]}") from None
    return version, merged, frozenset(changed)


def _reviewed_text(key: str) -> bool:
    """Labels and sources are the reviewed text: a clinic changes values, not citations."""
    return key == "label" or key.endswith("source")


def _nested_reviewed_text(changes: Mapping[str, Any]) -> list[str]:
    found = []
    for key, value in changes.items():
        if isinstance(value, dict):
            found += [f"{key}.{inner}" for inner in value if _reviewed_text(inner)]
            found += [f"{key}.{deeper}" for deeper in _nested_reviewed_text(value)]
    return found
