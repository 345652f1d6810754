"""Integration modalities: each schema's fields and rules, errors naming field and rule."""

import pytest

from kapstone.errors import InvalidInput, InvalidInputs
from kapstone.integration import modalities as m

EMDR = {"phase": 4, "target_memory": "car accident", "sud_before": 8, "sud_after": 2, "voc": 6}
ART = {"scene": "the hallway", "sud_before": 9, "sud_after": 1, "image_replaced": True}
IFS = {"parts": [{"name": "the critic", "role": "manager"}], "self_energy": 6}
CBT = {
    "situation": "meeting",
    "automatic_thought": "I will fail",
    "exposure_step": "speak once",
    "suds": 40,
}
SOMATIC = {"technique": "breathwork", "practice_minutes": 12}


def errors_of(modality, data) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInputs) as raised:
        m.validate(modality, data)
    return [(e.field, e.message) for e in raised.value.errors]


@pytest.mark.parametrize(
    ("modality", "data"),
    [
        ("emdr", EMDR),
        ("emdr", {"phase": 1}),
        ("art", ART),
        ("art", {**ART, "image_replaced": False}),
        ("ifs", IFS),
        ("ifs", {"self_energy": 0}),
        ("cbt_exposure", CBT),
        ("cbt_exposure", {"situation": "meeting"}),
        ("somatic", SOMATIC),
        ("other", {}),
        ("other", {"description": "walk and talk"}),
    ],
)
def test_valid_records_pass(modality, data):
    assert m.validate(modality, data) == data


@pytest.mark.parametrize(
    ("modality", "data", "expected"),
    [
        (
            "emdr",
            {**EMDR, "sud_before": 11},
            [("sud_before", "must be a whole number from 0 to 10")],
        ),
        ("emdr", {**EMDR, "sud_after": -1}, [("sud_after", "must be a whole number from 0 to 10")]),
        ("emdr", {**EMDR, "voc": 0}, [("voc", "must be a whole number from 1 to 7")]),
        ("emdr", {**EMDR, "voc": 8}, [("voc", "must be a whole number from 1 to 7")]),
        ("emdr", {**EMDR, "phase": 9}, [("phase", "must be a whole number from 1 to 8")]),
        ("emdr", {**EMDR, "phase": None}, [("phase", "is required")]),
        ("emdr", {**EMDR, "voc": 5.5}, [("voc", "must be a whole number from 1 to 7")]),
        ("emdr", {**EMDR, "voc": True}, [("voc", "must be a whole number from 1 to 7")]),
        (
            "emdr",
            {**EMDR, "target_memory": "x" * 201},
            [("target_memory", "must be at most 200 characters")],
        ),
        ("art", {**ART, "image_replaced": "yes"}, [("image_replaced", "must be yes or no")]),
        ("art", {**ART, "scene": ""}, [("scene", "is required")]),
        (
            "art",
            {"scene": "x"},
            [
                ("sud_before", "is required"),
                ("sud_after", "is required"),
                ("image_replaced", "is required"),
            ],
        ),
        (
            "ifs",
            {**IFS, "self_energy": 11},
            [("self_energy", "must be a whole number from 0 to 10")],
        ),
        (
            "ifs",
            {**IFS, "parts": [{"name": "critic", "role": "boss"}]},
            [("parts[1].role", "must be manager, firefighter, exile or other")],
        ),
        (
            "ifs",
            {**IFS, "parts": [{"name": " ", "role": "exile"}]},
            [("parts[1].name", "is required")],
        ),
        (
            "ifs",
            {**IFS, "parts": [{"name": "a", "role": "exile", "age": 7}]},
            [("parts[1]", "must have a name and a role only")],
        ),
        ("ifs", {**IFS, "parts": "critic"}, [("parts", "must be a list of parts")]),
        (
            "ifs",
            {**IFS, "parts": [{"name": "a", "role": "exile"}] * 13},
            [("parts", "must name at most 12 parts")],
        ),
        ("cbt_exposure", {**CBT, "suds": 101}, [("suds", "must be a whole number from 0 to 100")]),
        (
            "cbt_exposure",
            {"suds": 40},
            [
                ("situation", "or an exposure step is required"),
                ("exposure_step", "is required when SUDS is given"),
            ],
        ),
        (
            "cbt_exposure",
            {"situation": "meeting", "suds": 40},
            [("exposure_step", "is required when SUDS is given")],
        ),
        (
            "somatic",
            {**SOMATIC, "technique": "reiki"},
            [("technique", "must be one of the listed choices")],
        ),
        (
            "somatic",
            {**SOMATIC, "practice_minutes": 0},
            [("practice_minutes", "must be a whole number from 1 to 240")],
        ),
        ("somatic", {"technique": "yoga"}, [("practice_minutes", "is required")]),
        ("other", {"voc": 3}, [("voc", "is not a field of the Other record")]),
    ],
)
def test_invalid_records_name_the_field_and_the_rule(modality, data, expected):
    assert errors_of(modality, data) == expected


def test_every_bad_field_is_reported_at_once():
    fields = [f for f, _ in errors_of("emdr", {"phase": 0, "sud_before": 20, "voc": 9, "x": 1})]
    assert sorted(fields) == ["phase", "sud_before", "voc", "x"]


def test_errors_never_repeat_the_value():
    secret = "my brother's funeral"
    with pytest.raises(InvalidInputs) as raised:
        m.validate("emdr", {"phase": 2, "target_memory": secret * 20})
    assert "funeral" not in str(raised.value)


def test_unknown_modality():
    with pytest.raises(InvalidInput) as raised:
        m.validate("hypnosis", {})
    assert raised.value.field == "modality"


def test_text_is_trimmed_and_blank_optionals_left_out():
    assert m.validate("emdr", {"phase": 3, "target_memory": "  a  ", "voc": None}) == {
        "phase": 3,
        "target_memory": "a",
    }


def test_every_modality_has_a_schema_and_a_label():
    assert set(m.SCHEMAS) == set(m.Modality)
    assert all(mod.label for mod in m.Modality)


def test_scores_are_the_numbers_shown_in_the_history():
    shown = m.scores("emdr", EMDR)
    assert [(s.label, s.value) for s in shown] == [
        ("Phase (1-8)", "4"),
        ("SUD before (0-10)", "8"),
        ("SUD after (0-10)", "2"),
        ("VoC (1-7)", "6"),
    ]
    assert [s.value for s in m.scores("art", ART)] == ["9", "1", "Yes"]
    assert [s.value for s in m.describe("ifs", IFS)] == ["the critic (Manager)", "6"]
    assert [s.value for s in m.scores("somatic", SOMATIC)] == ["Breathwork", "12"]
