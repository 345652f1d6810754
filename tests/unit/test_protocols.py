import copy
from datetime import date
from decimal import Decimal

import pytest

from kapstone.clinical import protocols
from kapstone.clinical.instruments.registry import DefinitionError
from kapstone.clinical.protocols import Basis, Form, Route, Session, dosings_without_integration
from kapstone.errors import InvalidInput

LIB = protocols.library("v1")


def test_every_route_kapstone_knows_is_in_the_library():
    assert set(LIB.routes) == set(Route)


@pytest.mark.parametrize(
    ("route", "basis", "form", "low", "high", "start", "monitoring"),
    [
        ("iv", Basis.MG_PER_KG, Form.SOLUTION, "0.5", "1.0", "0.5", 120),
        ("im", Basis.MG_PER_KG, Form.SOLUTION, "0.5", "1.0", "0.5", 120),
        ("sc", Basis.MG_PER_KG, Form.SOLUTION, "0.25", "1.0", "0.25", 120),
        ("sl", Basis.MG, Form.SOLID, "50", "200", "50", 120),
        ("in_esketamine", Basis.DEVICES, Form.DEVICE, "56", "84", "56", 120),
    ],
)
def test_route_dose_rules(route, basis, form, low, high, start, monitoring):
    rule = LIB.route(route)
    assert (rule.basis, rule.form) == (basis, form)
    assert (rule.min, rule.max, rule.start) == (Decimal(low), Decimal(high), Decimal(start))
    assert rule.min_monitoring_minutes == monitoring


def test_intravenous_infusion_minutes():
    rule = LIB.route("iv")
    assert (rule.infusion_minutes, rule.min_infusion_minutes, rule.max_infusion_minutes) == (
        40,
        40,
        60,
    )
    assert LIB.route("im").infusion_minutes is None


def test_intranasal_devices_and_rests():
    rule = LIB.route("in_esketamine")
    assert rule.device_mg == Decimal(28)
    assert rule.device_rest_minutes == 5
    assert rule.doses == (Decimal(56), Decimal(84))
    assert rule.drug == "esketamine"


@pytest.mark.parametrize(
    ("route", "levels"),
    [
        ("sc", ("0.25", "0.5", "1.0")),
        ("in_esketamine", ("56", "84")),
        ("iv", ()),  # none in the reference: the clinic sets its own
        ("im", ()),
        ("sl", ()),
    ],
)
def test_titration_levels(route, levels):
    titration = LIB.route(route).titration
    assert titration.levels == tuple(Decimal(level) for level in levels)
    if not levels:
        assert titration.source.startswith("no titration step")


def test_every_default_cites_its_source_or_says_it_has_none():
    def cited(text):
        return "clinical-facts.md" in text or text.startswith("no ")

    for rule in LIB.routes.values():
        sources = [rule.dose_source, rule.monitoring_source, rule.titration.source]
        sources += [s for s in (rule.infusion_source, rule.dilute_source) if s]
        assert all(cited(source) for source in sources), rule.route
    for program in LIB.programs.values():
        assert cited(program.source)
    assert cited(LIB.integration.source)
    assert cited(LIB.volume_step_source)


@pytest.mark.parametrize("route", ["xx", "", "IV ", "oral"])
def test_an_unknown_route_is_refused_naming_the_field(route):
    with pytest.raises(InvalidInput) as caught:
        LIB.route(route)
    assert caught.value.field == "route"
    assert "iv, im, sc, sl, in_esketamine" in caught.value.message


def test_an_unknown_program_is_refused():
    with pytest.raises(InvalidInput) as caught:
        LIB.program("weekend")
    assert caught.value.field == "program"


@pytest.mark.parametrize(
    ("program", "per_week", "weeks", "field"),
    [
        ("intensive_retreat", "3", 1, None),
        ("intensive_retreat", "5", 2, None),
        ("intensive_retreat", "2", 1, "sessions_per_week"),
        ("intensive_retreat", "6", 1, "sessions_per_week"),
        ("intensive_retreat", "3", 3, "weeks"),
        ("standard", "1", None, None),
        ("standard", "0.5", None, None),  # every two weeks
        ("standard", "2", None, None),  # esketamine induction
        ("standard", "0.25", None, "sessions_per_week"),
        ("standard", "3", None, "sessions_per_week"),
        ("maintenance", "0.5", 52, None),  # no fixed length
        ("maintenance", "0.2", None, "sessions_per_week"),
    ],
)
def test_program_frequency(program, per_week, weeks, field):
    rule = LIB.program(program)
    if field is None:
        rule.check_frequency(Decimal(per_week), weeks)
    else:
        with pytest.raises(InvalidInput) as caught:
            rule.check_frequency(Decimal(per_week), weeks)
        assert caught.value.field == field


def test_integration_after_each_dosing_is_the_rule():
    assert LIB.integration.after_each_dosing


DOSE, TALK = "dosing", "integration"


@pytest.mark.parametrize(
    ("sessions", "missing"),
    [
        ([], []),
        ([(DOSE, 1), (TALK, 2)], []),
        ([(DOSE, 1), (TALK, 1)], []),  # integration the same day, after dosing
        ([(DOSE, 1)], [1]),  # the latest dosing's integration is still due
        ([(DOSE, 1), (DOSE, 3), (TALK, 4)], [1]),
        ([(DOSE, 1), (TALK, 2), (DOSE, 8), (TALK, 9), (DOSE, 15)], [15]),
        ([(TALK, 1), (DOSE, 2), (DOSE, 3)], [2, 3]),
        ([(DOSE, 3), (TALK, 4), (DOSE, 1)], [1]),  # given out of order
    ],
)
def test_dosings_without_integration(sessions, missing):
    given = [Session(kind, date(2027, 1, day)) for kind, day in sessions]
    found = dosings_without_integration(given)
    assert [s.on.day for s in found] == missing


def test_a_session_of_another_kind_is_refused():
    with pytest.raises(InvalidInput):
        dosings_without_integration([Session("massage", date(2027, 1, 1))])


# ---------------------------------------------------------------------------------------------
# Clinic configuration and the file's rules


def test_a_clinic_overrides_a_dose_rule_and_the_measuring_step():
    lib = protocols.library(
        "v1",
        {
            "routes": {"iv": {"max": "0.75", "titration": {"levels": ["0.5", "0.75"]}}},
            "measuring": {"volume_step_ml": "0.1"},
        },
    )
    assert lib.route("iv").max == Decimal("0.75")
    assert lib.route("iv").titration.levels == (Decimal("0.5"), Decimal("0.75"))
    assert lib.route("iv").clinic_setting and not lib.route("im").clinic_setting
    assert lib.volume_step_ml == Decimal("0.1")
    assert lib.clinic_changes == ("measuring.volume_step_ml", "routes.iv")
    assert protocols.library("v1").route("iv").max == Decimal("1.0")


@pytest.mark.parametrize(
    "overrides",
    [
        {"routes": {"iv": {"dose_source": "our policy"}}},
        {"routes": {"iv": {"titration": {"source": "ours"}}}},
        {"routes": {"iv": {"label": "IV"}}},
        {"routes": {"oral": {"max": "10"}}},
        {"routes": {"iv": {"maximum": "2"}}},
        {"routes": {"iv": {"start": "2"}}},  # outside its range
        {"routes": {"in_esketamine": {"doses": ["56", "70"]}}},  # not whole devices
        {"routes": {"sc": {"titration": {"levels": ["0.25", "2"]}}}},  # above the range
        {"measuring": {"source": "x"}},
        {"measuring": {"volume_step_ml": "-0.01"}},
        {"integration": {"after_each_dosing": False}},
        {"version": "v2"},
    ],
)
def test_overrides_that_break_the_rules_are_refused(overrides):
    with pytest.raises(DefinitionError):
        protocols.library("v1", overrides)


def test_an_unknown_library_version_is_refused():
    with pytest.raises(InvalidInput) as caught:
        protocols.library("v0")
    assert caught.value.field == "protocol_library_version"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["routes"]["iv"].update(min="1.5"), "min must not be above max|start"),
        (lambda d: d["routes"]["iv"].update(infusion_minutes=90), "infusion_minutes"),
        (lambda d: d["routes"]["iv"].update(basis="per_m2"), "basis"),
        (lambda d: d["routes"]["sl"].update(min="fifty"), "decimal"),
        (lambda d: d["routes"]["sl"].pop("monitoring_source"), "monitoring_source"),
        (lambda d: d["programs"]["standard"].update(sessions_per_week_min="3"), "above the max"),
        (lambda d: d["programs"]["standard"].update(weeks_min=4), "go together"),
    ],
)
def test_a_broken_library_file_is_refused(change, fragment):
    data = copy.deepcopy(dict(LIB.raw))
    change(data)
    with pytest.raises(DefinitionError, match=fragment):
        protocols.parse(data)
