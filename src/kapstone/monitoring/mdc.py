"""IEEE 11073-10101 (MDC) codes from bedside monitors, mapped to Kapstone's vitals.

The mapping is reviewed data in ``data/mdc_loinc.toml``: each MDC observation code names the
vital it is, the LOINC code and where the pairing was confirmed (or that it was not). Units
arrive as MDC unit codes or UCUM text and are mapped to the vital's UCUM unit. Pure Python.
"""

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from kapstone.monitoring.vitals import Vital, spec


@dataclass(frozen=True)
class MdcCode:
    code: int
    ref: str
    vital: Vital
    loinc: str
    unit: str
    confirmed: bool
    source: str


@cache
def _data() -> dict[str, Any]:
    text = resources.files("kapstone.monitoring").joinpath("data/mdc_loinc.toml").read_text()
    return tomllib.loads(text)


@cache
def codes() -> dict[int, MdcCode]:
    out = {}
    for key, entry in _data()["codes"].items():
        vital = Vital(entry["vital"])
        out[int(key)] = MdcCode(
            code=int(key),
            ref=entry["ref"],
            vital=vital,
            loinc=entry["loinc"],
            unit=spec(vital).unit,
            confirmed=entry["confirmed"],
            source=entry["source"],
        )
    return out


@cache
def _by_ref() -> dict[str, MdcCode]:
    return {entry.ref: entry for entry in codes().values()}


@cache
def _units() -> dict[str, str]:
    out = dict(_data()["ucum_aliases"])
    for key, entry in _data()["units"].items():
        out[key] = entry["ucum"]
        out[entry["ref"]] = entry["ucum"]
    return out


def lookup(code: str | int | None = None, ref: str | None = None) -> MdcCode | None:
    """The mapping for a numeric MDC code (OBX-3.1) or, failing that, its reference id (OBX-3.2)."""
    if code is not None and str(code).strip().isdigit():
        found = codes().get(int(str(code).strip()))
        if found is not None:
            return found
    if ref:
        return _by_ref().get(ref.strip())
    return None


def unit_to_ucum(code: str | None = None, text: str | None = None) -> str | None:
    """The UCUM unit for an OBX-6 (an MDC unit code, its reference id, or UCUM text)."""
    for candidate in (code, text):
        if candidate:
            found = _units().get(candidate.strip())
            if found is not None:
                return found
    return None
