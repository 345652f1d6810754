"""The stock strengths of the protocol library: what the clinic holds, to show doses as volumes."""

import copy
from decimal import Decimal

import pytest

from kapstone.clinical import protocols
from kapstone.clinical.instruments.registry import DefinitionError

LIB = protocols.library("v1")


def test_the_shipped_strengths_and_what_is_sourced():
    assert LIB.stock_strengths_mg_per_ml == (Decimal(10), Decimal(50), Decimal(100))
    assert "100 mg/mL: clinical-facts.md §1.1 (KETALAR label)" in LIB.stock_source
    assert "10 and 50 mg/mL" in LIB.stock_source
    assert "not in clinical-facts.md; clinic to confirm" in LIB.stock_source


@pytest.mark.parametrize(
    ("strengths", "expected"),
    [
        (["100"], (Decimal(100),)),
        (["50", "100"], (Decimal(50), Decimal(100))),
        (["12.5", "25"], (Decimal("12.5"), Decimal(25))),
    ],
)
def test_a_clinic_lists_the_strengths_it_stocks(strengths, expected):
    lib = protocols.library("v1", {"stock": {"strengths_mg_per_ml": strengths}})

    assert lib.stock_strengths_mg_per_ml == expected
    assert lib.clinic_changes == ("stock.strengths_mg_per_ml",)
    assert protocols.library("v1").stock_strengths_mg_per_ml == LIB.stock_strengths_mg_per_ml


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"stock": {"strengths_mg_per_ml": []}}, "at least one strength"),
        ({"stock": {"strengths_mg_per_ml": ["0"]}}, "positive decimal strings"),
        ({"stock": {"strengths_mg_per_ml": ["-10"]}}, "positive decimal strings"),
        ({"stock": {"strengths_mg_per_ml": ["ten"]}}, "positive decimal strings"),
        ({"stock": {"strengths_mg_per_ml": [10]}}, "positive decimal strings"),
        ({"stock": {"strengths_mg_per_ml": ["NaN"]}}, "positive decimal strings"),
        ({"stock": {"strengths_mg_per_ml": ["100", "50"]}}, "must rise"),
        ({"stock": {"strengths_mg_per_ml": ["50", "50"]}}, "must rise"),
        ({"stock": {"source": "our own list"}}, "not a clinic setting"),
        ({"stock": {"vial_ml": "10"}}, "not a clinic setting"),
    ],
)
def test_a_bad_strength_list_is_refused(overrides, fragment):
    with pytest.raises(DefinitionError, match=fragment):
        protocols.library("v1", overrides)


@pytest.mark.parametrize("missing", ["strengths_mg_per_ml", "source"])
def test_a_library_file_without_its_stock_is_refused(missing):
    data = copy.deepcopy(dict(LIB.raw))
    data["stock"].pop(missing)

    with pytest.raises(DefinitionError, match=missing):
        protocols.parse(data)
