"""The clinic's settings checked whole: every section's own rules, each problem named by its
key path and rule, never its value."""

from datetime import date

import pytest

from kapstone.clinical import config, settings_check
from kapstone.clinical.settings_check import changed_keys, changed_sections, check

GOOD = [
    {},
    {"measurements": {"weight_kg": {"min": "30", "max": 300}}},
    {"treatment_resistance": {"medication_min_weeks": 8}},
    {"diagnoses": {"common": ["F41.1", "F43.10"]}},
    {"checkins": {"overdue_after_hours": 12, "after_dosing_hours": [24, 72]}},
    {"checkins": {"weekly_time": "18:30", "default_instrument": "phq9"}},
    {"crisis_resources": {"lines": [{"name": "Clinic on-call", "how": "Call 555 0100"}]}},
    {"ledger": {"closed_days": ["2026-12-25", "2027-01-01"]}},
    {"consent": {"form_version": "2026-11"}},
    {"home_practice": {"link_days": 1}},
    {"home_practice": {"link_days": 90}},
    {"outcomes": {"gad7": {"mcid": 5, "remission_below": 4}}},
    {"eligibility": {"rules": {"no_escort": {"enabled": False}}}},
    {"protocols": {"routes": {"iv": {"max": "0.75"}}}},
    {"protocols": {"stock": {"strengths_mg_per_ml": ["50", "100"]}}},
    {"pk": {"absorption": {"sc": {"bioavailability": 0.9, "tmax_minutes": 20}}}},
    {"pk": {"default_model": "domino"}},
    {"scheduling": {"integration_window": {"min_hours": 12, "max_hours": 48}}},
    {"monitoring": {"schedule": {"vitals_after_dose_minutes": 20, "cadss_minutes": [30, 90]}}},
    {"monitoring": {"thresholds": {"heart_rate": {"above": "120"}}}},
    {"monitoring": {"pre_dose": {"fasting_hours": 6, "pregnancy_test_required": True}}},
    {
        "checkins": {"link_valid_hours": 48},
        "monitoring": {"pre_dose": {"hold_systolic_above": 180}},
    },
]


@pytest.mark.parametrize("overrides", GOOD, ids=lambda o: ",".join(o) or "none")
def test_good_settings_pass(overrides):
    assert check(overrides) == []


@pytest.mark.parametrize("overrides", GOOD, ids=lambda o: ",".join(o) or "none")
def test_good_settings_are_read_by_the_clinic_config(overrides):
    # Act
    clinic = config.ClinicConfig(overrides)

    # Assert: every reader of a section takes what the checker passed.
    clinic.bounds("weight_kg")
    clinic.bounds("height_cm")
    assert clinic.ledger_closed_days is not None
    assert clinic.crisis_lines
    assert clinic.consent_form_version
    assert 1 <= clinic.practice_link_days <= 90
    for section in config.RULE_SECTIONS:
        assert clinic.overrides_for(section) == overrides.get(section)


BAD = [
    # Unknown sections and keys.
    ({"billing": {"rate": 1}}, "billing", "is not a section"),
    ({"checkins": {"link_hours": 48}}, "checkins.link_hours", "is not a clinic setting"),
    ({"measurements": {"bmi": {"min": "10"}}}, "measurements.bmi", "is not a clinic setting"),
    ({"consent": {"source": "ours"}}, "consent.source", "citation"),
    ({"checkins": 5}, "checkins", "must be a table"),
    # Types against the shipped default's.
    ({"checkins": {"link_valid_hours": "72"}}, "checkins.link_valid_hours", "whole number"),
    ({"checkins": {"link_valid_hours": 7.5}}, "checkins.link_valid_hours", "whole number"),
    ({"treatment_resistance": {"psychotherapy_min_sessions": True}}, None, "whole number"),
    ({"treatment_resistance": {"medication_min_weeks": 0}}, None, "at least 1"),
    ({"measurements": {"weight_kg": {"min": "heavy"}}}, "measurements.weight_kg.min", "number"),
    ({"measurements": {"weight_kg": {"min": "400"}}}, "measurements.weight_kg.min", "below max"),
    ({"diagnoses": {"common": "F41.1"}}, "diagnoses.common", "list"),
    ({"diagnoses": {"common": ["F41"]}}, "diagnoses.common", "billable"),
    ({"checkins": {"overdue_after_hours": 0}}, "checkins.overdue_after_hours", "at least 1"),
    ({"checkins": {"overdue_after_hours": 96}}, "checkins.overdue_after_hours", "less than"),
    ({"checkins": {"default_instrument": "gad-7"}}, "checkins.default_instrument", "one of"),
    ({"checkins": {"after_dosing_hours": [168, 24]}}, "checkins.after_dosing_hours", "order"),
    ({"checkins": {"weekly_time": "9am"}}, "checkins.weekly_time", "24-hour time"),
    ({"checkins": {"weekly_time": "24:30"}}, "checkins.weekly_time", "24-hour time"),
    ({"crisis_resources": {"lines": []}}, "crisis_resources.lines", "at least one"),
    ({"crisis_resources": {"lines": [{"name": "x"}]}}, "crisis_resources.lines", "how"),
    ({"ledger": {"closed_days": ["25/12/2026"]}}, "ledger.closed_days", "dates as text"),
    ({"ledger": {"closed_days": ["2026-02-30"]}}, "ledger.closed_days", "real calendar"),
    ({"ledger": {"closed_days": [date(2026, 12, 25)]}}, "ledger.closed_days[0]", "in quotes"),
    ({"consent": {"form_version": " "}}, "consent.form_version", "not empty"),
    ({"consent": {"form_version": 2}}, "consent.form_version", "as text"),
    ({"consent": {"form_version": "v" * 21}}, "consent.form_version", "at most 20"),
    ({"home_practice": {"link_days": 0}}, "home_practice.link_days", "from 1 to 90"),
    ({"home_practice": {"link_days": 91}}, "home_practice.link_days", "from 1 to 90"),
    ({"home_practice": {"link_days": "30"}}, "home_practice.link_days", "whole number"),
    ({"home_practice": {"link_days": None}}, "home_practice.link_days", "must have a value"),
    ({"pk": {"absorption": {"iv": {"bioavailability": float("nan")}}}}, None, "finite"),
    # Outcome rules, by instrument.
    ({"outcomes": {"gad7": {"mcid": "four"}}}, "outcomes.gad7.mcid", "whole number"),
    ({"outcomes": {"gad7": {"mcid_source": "ours"}}}, "outcomes.gad7.mcid_source", "citation"),
    ({"outcomes": {"gad7": {"cure_below": 2}}}, "outcomes.gad7.cure_below", "not a clinic"),
    ({"outcomes": {"gad8": {"mcid": 4}}}, "outcomes.gad8", "not an instrument"),
    ({"outcomes": {"cadss": {"mcid": 4}}}, "outcomes.cadss", "no outcome rules"),
    ({"outcomes": {"gad7": 4}}, "outcomes.gad7", "must be a table"),
    # The eligibility rule set.
    ({"eligibility": {"rules": {"no_escort": {"enabled": "no"}}}}, None, "true or false"),
    (
        {"eligibility": {"rules": {"no_escort": {"label": "x"}}}},
        "eligibility.rules.no_escort",
        "label",
    ),
    (
        {"eligibility": {"rules": {"no_moon": {"enabled": False}}}},
        "eligibility.rules.no_moon",
        "not a clinic",
    ),
    (
        {"eligibility": {"questions": {"pregnant": {"text": "x"}}}},
        "eligibility.questions",
        "not a clinic",
    ),
    # The protocol library.
    ({"protocols": {"routes": {"iv": {"max": "lots"}}}}, "protocols.routes.iv.max", "decimal"),
    ({"protocols": {"routes": {"iv": {"max": "0.4"}}}}, "protocols.routes.iv", "min to max"),
    ({"protocols": {"routes": {"iv": {"speed": "1"}}}}, "protocols.routes.iv.speed", "not a"),
    ({"protocols": {"measuring": {"volume_step_ml": 0.1}}}, None, "text"),
    # PK data.
    ({"pk": {"absorption": {"sc": {"bioavailability": 2}}}}, None, "at most 1"),
    ({"pk": {"absorption": {"sc": {"bioavailability": 0.9}}}}, "pk.absorption.sc", "tmax"),
    ({"pk": {"absorption": {"iv": {"source": "x"}}}}, "pk.absorption.iv.source", "not a"),
    (
        {"pk": {"absorption": {"nasal": {"bioavailability": 0.5}}}},
        "pk.absorption.nasal",
        "not a route",
    ),
    ({"pk": {"absorption": 0.5}}, "pk.absorption", "table of routes"),
    ({"pk": {"default_model": "mine"}}, "pk.default_model", "not a model"),
    ({"pk": {"models": {}}}, "pk.models", "not a clinic setting"),
    # Scheduling.
    ({"scheduling": {"integration_window": {"min_hours": -1}}}, None, "hours from 0"),
    ({"scheduling": {"integration_window": {"min_hours": 96}}}, None, "from a minimum"),
    ({"scheduling": {"dosing_spacing": {"min_hours": "a day"}}}, None, "number of hours"),
    ({"scheduling": {"waitlist": {"days": 3}}}, "scheduling.waitlist", "not a scheduling"),
    # Monitoring: the schedule, the thresholds and the pre-dose rules.
    ({"monitoring": {"schedule": {"cadss_minutes": [90, 30]}}}, None, "increasing"),
    ({"monitoring": {"schedule": {"vitals_after_dose_minutes": 0}}}, None, "above 0"),
    ({"monitoring": {"schedule": {"often": 5}}}, "monitoring.schedule.often", "not a"),
    ({"monitoring": {"thresholds": {"heart_rate": {"above": "fast"}}}}, None, "a number"),
    (
        {"monitoring": {"thresholds": {"heart_rate": {"over": "120"}}}},
        "monitoring.thresholds.heart_rate",
        "'above'",
    ),
    (
        {"monitoring": {"thresholds": {"pulse": {"above": "120"}}}},
        "monitoring.thresholds.pulse",
        "not a vital",
    ),
    ({"monitoring": {"thresholds": {"heart_rate": "120"}}}, None, "table of limits"),
    ({"monitoring": {"pre_dose": {"fasting_hours": 30}}}, None, "from 0 to 24"),
    ({"monitoring": {"pre_dose": {"pregnancy_test_required": "yes"}}}, None, "true or false"),
    ({"monitoring": {"pre_dose": {"hold_systolic_above": 90}}}, None, "from 100 to 250"),
    ({"monitoring": {"pre_dose": {"coffee": 1}}}, "monitoring.pre_dose.coffee", "not a"),
    ({"monitoring": {"pre_dose": 6}}, "monitoring.pre_dose", "must be a table"),
    ({"monitoring": {"alarms": {}}}, "monitoring.alarms", "not a monitoring setting"),
]
# Where the expected field is None, it is the one key path the settings name.


def _only_path(overrides) -> str:
    path, value = [], overrides
    while isinstance(value, dict):
        (key,) = value
        path.append(key)
        value = value[key]
    return ".".join(path)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    BAD,
    ids=[f"{i}-{next(iter(o))}" for i, (o, _, _) in enumerate(BAD)],
)
def test_bad_settings_name_the_key_path_and_rule(overrides, field, words):
    # Act
    problems = check(overrides)

    # Assert
    assert [p.field for p in problems] == [field or _only_path(overrides)]
    assert words in problems[0].message


SECRET = "Robin Testpatient 1985-04-12"


@pytest.mark.parametrize(
    "overrides",
    [
        {"consent": {"form_version": SECRET}},
        {"checkins": {"weekly_time": SECRET}},
        {"outcomes": {"gad7": {"mcid": SECRET}}},
        {"eligibility": {"rules": {"no_escort": {"kind": SECRET}}}},
        {"protocols": {"routes": {"iv": {"max": SECRET}}}},
        {"pk": {"default_model": SECRET}},
        {"scheduling": {"dosing_spacing": {"min_hours": SECRET}}},
        {"monitoring": {"thresholds": {"heart_rate": {"above": SECRET}}}},
        {"monitoring": {"pre_dose": {"fasting_hours": SECRET}}},
    ],
    ids=lambda o: next(iter(o)),
)
def test_problems_never_quote_the_value(overrides):
    problems = check(overrides)

    assert problems
    for problem in problems:
        assert "Robin" not in str(problem)


def test_every_problem_is_reported_at_once():
    # Arrange
    overrides = {
        "nope": {},
        "checkins": {"link_valid_hours": 0, "weekly_time": "noon"},
        "home_practice": {"link_days": 365},
        "outcomes": {"gad7": {"mcid": "x"}},
        "scheduling": {"integration_window": {"min_hours": -1, "max_hours": "x"}},
        "monitoring": {"schedule": {"cadss_minutes": [2, 1]}, "pre_dose": {"fasting_hours": 99}},
    }

    # Act
    fields = [problem.field for problem in check(overrides)]

    # Assert
    assert fields == [
        "nope",
        "checkins.link_valid_hours",
        "checkins.weekly_time",
        "home_practice.link_days",
        "outcomes.gad7.mcid",
        "scheduling.integration_window.min_hours",
        "scheduling.integration_window.max_hours",
        "monitoring.schedule.cadss_minutes",
        "monitoring.pre_dose.fasting_hours",
    ]


def test_not_a_table_is_refused():
    assert [p.field for p in check(["checkins"])] == ["settings"]


def test_sections_are_the_defaults_outcomes_and_rule_sections():
    assert set(settings_check.SECTIONS) == {
        *config.shipped_defaults(),
        "outcomes",
        *config.RULE_SECTIONS,
    }
    assert settings_check.CLINICAL_SECTIONS == {
        "measurements",
        "treatment_resistance",
        "outcomes",
        "eligibility",
        "protocols",
        "pk",
        "monitoring",
    }
    assert settings_check.OPERATIONAL_SECTIONS == {
        "diagnoses",
        "checkins",
        "crisis_resources",
        "ledger",
        "consent",
        "home_practice",
        "scheduling",
    }


@pytest.mark.parametrize(
    ("old", "new", "sections", "keys"),
    [
        ({}, {}, set(), []),
        (
            {},
            {"checkins": {"overdue_after_hours": 12}},
            {"checkins"},
            ["checkins.overdue_after_hours"],
        ),
        (
            {"checkins": {"overdue_after_hours": 12}},
            {},
            {"checkins"},
            ["checkins.overdue_after_hours"],
        ),
        (
            {"checkins": {"overdue_after_hours": 12}, "consent": {"form_version": "2"}},
            {"checkins": {"overdue_after_hours": 12}, "consent": {"form_version": "3"}},
            {"consent"},
            ["consent.form_version"],
        ),
        (
            {"monitoring": {"pre_dose": {"fasting_hours": 6}}},
            {"monitoring": {"pre_dose": {"fasting_hours": 6}, "schedule": {"cadss_minutes": [30]}}},
            {"monitoring"},
            ["monitoring.schedule.cadss_minutes"],
        ),
        (
            {"ledger": {"closed_days": ["2026-12-25"]}},
            {"ledger": {"closed_days": ["2026-12-25", "2027-01-01"]}},
            {"ledger"},
            ["ledger.closed_days"],
        ),
    ],
)
def test_changed_sections_and_keys(old, new, sections, keys):
    assert changed_sections(old, new) == sections
    assert changed_keys(old, new) == keys


def test_shipped_sections_carry_their_sources():
    sections = {entry["name"]: entry for entry in settings_check.shipped_sections()}

    assert list(sections) == list(settings_check.SECTIONS)
    assert "source = " in sections["checkins"]["shipped"]
    assert "overdue_after_hours = 24" in sections["checkins"]["shipped"]
    assert "[measurements.weight_kg]" in sections["measurements"]["shipped"]
    assert "source = " in sections["scheduling"]["shipped"]
    assert "[cadss]" in sections["monitoring"]["shipped"]
    assert "[thresholds.heart_rate]" in sections["monitoring"]["shipped"]
    assert "[rules.no_escort]" in sections["eligibility"]["shipped"]
    assert "[routes.iv]" in sections["protocols"]["shipped"]
    assert "[absorption.sc]" in sections["pk"]["shipped"]
    assert (
        '[outcomes.gad7]\nmcid = 4\nmcid_source = "clinical-facts.md 3.1'
        in (sections["outcomes"]["shipped"])
    )
    assert sections["eligibility"]["note"]
    assert sections["monitoring"]["kind"] == "clinical"
    assert sections["home_practice"]["kind"] == "operational"
