"""The shipped definition files say what the clinical reference says, and a broken definition
is refused when it is loaded."""

import ast
from importlib import resources
from pathlib import Path

import pytest

from kapstone.clinical import instruments
from kapstone.clinical.instruments import DefinitionError, ItemKind, RatedBy, Scoring
from kapstone.errors import InvalidInput


def shipped_text(instrument_id: str) -> str:
    folder = resources.files("kapstone.clinical.instruments").joinpath("definitions")
    return folder.joinpath(f"{instrument_id}.toml").read_text()


@pytest.mark.parametrize(
    ("instrument_id", "items", "max_total", "rated_by", "kind"),
    [
        ("gad7", 7, 21, RatedBy.PATIENT, ItemKind.SCALE),
        ("phq9", 9, 27, RatedBy.PATIENT, ItemKind.SCALE),
        ("pcl5", 20, 80, RatedBy.PATIENT, ItemKind.SCALE),
        ("hama", 14, 56, RatedBy.CLINICIAN, ItemKind.SCALE),
        ("auditc", 3, 12, RatedBy.PATIENT, ItemKind.SCALE),
        ("pdss", 7, 28, RatedBy.CLINICIAN, ItemKind.SCALE),
        ("spin", 17, 68, RatedBy.PATIENT, ItemKind.SCALE),
        ("lsas", 48, 144, RatedBy.CLINICIAN, ItemKind.SCALE),
        ("cadss", 23, 92, RatedBy.PATIENT, ItemKind.SCALE),
        ("cssrs_screener", 7, None, RatedBy.CLINICIAN, ItemKind.YES_NO),
        ("dast10", 10, 10, RatedBy.PATIENT, ItemKind.YES_NO),
    ],
)
def test_shape_of_each_instrument(instrument_id, items, max_total, rated_by, kind):
    inst = instruments.get(instrument_id)
    assert len(inst.items) == items
    assert inst.max_total == max_total
    assert inst.rated_by is rated_by
    assert {item.kind for item in inst.items} == {kind}
    assert inst.recall_period
    assert inst.source.startswith("clinical-facts.md 3.")


def test_every_instrument_is_shipped():
    assert set(instruments.ids()) == {
        "gad7", "phq9", "pcl5", "hama", "auditc", "pdss", "spin", "lsas", "cadss",
        "cssrs_screener", "dast10",
    }  # fmt: skip
    assert [inst.id for inst in instruments.all_instruments()] == list(instruments.ids())


def test_unknown_instrument_is_refused_with_the_rule():
    with pytest.raises(InvalidInput) as caught:
        instruments.get("madrs")
    assert caught.value.field == "instrument"
    assert "gad7" in caught.value.message


@pytest.mark.parametrize(
    ("instrument_id", "maximum"),
    [
        ("gad7", 3),
        ("phq9", 3),
        ("pcl5", 4),
        ("hama", 4),
        ("auditc", 4),
        ("pdss", 4),
        ("spin", 4),
        ("lsas", 3),
        ("cadss", 4),
    ],
)
def test_item_ranges(instrument_id, maximum):
    assert {(item.min, item.max) for item in instruments.get(instrument_id).items} == {(0, maximum)}


# --- LOINC: the reference's table, and nothing it marks UNCONFIRMED ---------------------------

GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
PHQ9_ITEMS = [
    "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
    "44260-8",
]  # fmt: skip
ANSWER_CODES = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}


@pytest.mark.parametrize(
    ("instrument_id", "panel", "total", "items"),
    [
        ("gad7", "69737-5", "70274-6", GAD7_ITEMS),
        ("phq9", "44249-1", "44261-6", PHQ9_ITEMS),
        ("auditc", None, "75626-2", [None, None, None]),
    ],
)
def test_loinc_codes_match_the_reference(instrument_id, panel, total, items):
    inst = instruments.get(instrument_id)
    assert (inst.loinc_panel, inst.loinc_total) == (panel, total)
    assert [item.loinc for item in inst.items] == items


@pytest.mark.parametrize("instrument_id", ["gad7", "phq9"])
def test_answer_codes(instrument_id):
    for item in instruments.get(instrument_id).items:
        assert {option.value: option.loinc for option in item.options} == ANSWER_CODES


@pytest.mark.parametrize(
    "instrument_id", ["pcl5", "hama", "pdss", "spin", "lsas", "cadss", "cssrs_screener", "dast10"]
)
def test_no_code_the_reference_marks_unconfirmed(instrument_id):
    inst = instruments.get(instrument_id)
    assert inst.loinc_panel is None and inst.loinc_total is None
    assert all(item.loinc is None for item in inst.items)
    assert all(option.loinc is None for item in inst.items for option in item.options)


# --- Licences: which wording may ship --------------------------------------------------------

PUBLIC_DOMAIN = {"gad7", "phq9", "pcl5", "hama", "auditc"}


@pytest.mark.parametrize("instrument_id", sorted(PUBLIC_DOMAIN))
def test_public_domain_instruments_ship_their_item_text(instrument_id):
    inst = instruments.get(instrument_id)
    assert inst.licence.text_may_ship
    assert all(item.text for item in inst.items)


@pytest.mark.parametrize(
    "instrument_id", ["pdss", "spin", "lsas", "cadss", "cssrs_screener", "dast10"]
)
def test_licensed_instruments_ship_no_wording(instrument_id):
    inst = instruments.get(instrument_id)
    assert not inst.licence.text_may_ship
    assert inst.stem is None
    for item in inst.items:
        assert item.text is None
        assert item.label.startswith("Item ")
        if item.kind is ItemKind.SCALE:
            # Anchor labels stay on the licensed form too: the number is the label.
            assert [option.label for option in item.options] == [
                str(v) for v in range(item.min, item.max + 1)
            ]


def test_gad7_lowest_option_is_not_at_all():
    assert instruments.get("gad7").items[0].options[0].label == "Not at all"


def test_phq9_item_9_is_the_self_harm_item():
    item = instruments.get("phq9").item("q9")
    assert item.loinc == "44260-8"
    assert "better off dead" in item.text


def test_lsas_has_a_fear_and_an_avoidance_rating_for_each_of_24_situations():
    inst = instruments.get("lsas")
    assert inst.item_ids[:4] == ("q1_fear", "q1_avoidance", "q2_fear", "q2_avoidance")
    assert len(inst.subscale("fear").items) == len(inst.subscale("avoidance").items) == 24


def test_hama_subscales_follow_hamilton_and_say_the_reference_does_not_list_them():
    inst = instruments.get("hama")
    assert inst.subscale("psychic").items == ("q1", "q2", "q3", "q4", "q5", "q6", "q14")
    assert inst.subscale("somatic").items == tuple(f"q{n}" for n in range(7, 14))
    assert all("UNCONFIRMED" in s.source for s in inst.subscales)


def test_pcl5_clusters():
    inst = instruments.get("pcl5")
    assert [(s.id, len(s.items)) for s in inst.subscales] == [
        ("cluster_b", 5),
        ("cluster_c", 2),
        ("cluster_d", 7),
        ("cluster_e", 6),
    ]
    assert inst.provisional_diagnosis.threshold == 33


@pytest.mark.parametrize("instrument_id", ["pcl5", "auditc", "cadss", "spin"])
def test_instruments_without_bands_say_why(instrument_id):
    inst = instruments.get(instrument_id)
    assert inst.band_sets == ()
    assert "clinical-facts.md" in inst.no_bands_reason


def test_lsas_bands_are_labelled_convention():
    band_set = instruments.get("lsas").band_sets[0]
    assert band_set.convention
    assert all(band.convention and "convention" in band.label for band in band_set.bands)


def test_every_instrument_states_its_missing_item_rule():
    for inst in instruments.all_instruments():
        assert inst.missing_items.rule == "no_total"
        assert "prorat" in inst.missing_items.note or inst.id == "cssrs_screener"


def test_cssrs_is_scored_by_risk_level_with_skip_logic():
    inst = instruments.get("cssrs_screener")
    assert inst.scoring is Scoring.RISK_LEVELS
    assert [i.id for i in inst.items if i.asked_if and i.asked_if.item == "q2"] == [
        "q3",
        "q4",
        "q5",
    ]
    assert inst.item("q6_past_3_months").asked_if.item == "q6"


def test_every_source_names_the_reference_or_says_there_is_none():
    for inst in instruments.all_instruments():
        sources = [inst.source, inst.licence.source]
        sources += [s.source for s in inst.band_sets] + [s.source for s in inst.subscales]
        sources += [c.source for c in inst.cutoffs] + [f.source for f in inst.flags]
        sources += [r.source for r in inst.risk_levels]
        sources += list(inst.outcomes.sources.values()) if inst.outcomes else []
        for source in sources:
            assert "clinical-facts.md" in source or source.startswith("none"), (inst.id, source)


# --- A broken definition fails loudly --------------------------------------------------------


def broken(instrument_id: str, old: str, new: str) -> str:
    text = shipped_text(instrument_id)
    assert old in text, "the test's anchor text is no longer in the file"
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("instrument_id", "old", "new", "complaint"),
    [
        # Bands: a gap, an overlap, short of the top, past the top, backwards
        ("gad7", "min = 5, max = 9", "min = 6, max = 9", "contiguous"),
        ("gad7", "min = 10, max = 14", "min = 9, max = 14", "contiguous"),
        ("gad7", "min = 15, max = 21", "min = 15, max = 20", "highest total"),
        ("gad7", "min = 15, max = 21", "min = 15, max = 22", "highest total"),
        ("gad7", "min = 5, max = 9", "min = 5, max = 4", "backwards"),
        ("gad7", 'id = "mild"', 'id = "minimal"', "repeated"),
        # Items
        ("gad7", 'id = "q2"', 'id = "q1"', "unique"),
        ("gad7", "item_count = 7", "item_count = 8", "item_count"),
        ("gad7", "total_range = [0, 21]", "total_range = [0, 20]", "total_range"),
        ("gad7", "total_range = [0, 21]", "total_range = [21]", "total_range"),
        ("gad7", 'id = "q2"', 'id = "Q-2"', "lower case"),
        ("gad7", "{ value = 3, label", "{ value = 4, label", "options"),
        ("gad7", 'label = "Item 4"', 'label = ""', "empty"),
        ("gad7", 'label = "Item 4"', 'label = "Item 4"\nlable = "Item 4"', "unknown key"),
        ("gad7", 'rated_by = "patient"', 'rated_by = "nurse"', "rated_by"),
        # LOINC format
        ("gad7", 'loinc = "69725-0"', 'loinc = "69725-01"', "LOINC"),
        ("gad7", 'panel = "69737-5"', 'panel = "69737"', "LOINC"),
        ("gad7", 'loinc = "LA6568-5"', 'loinc = "LA6568"', "LOINC"),
        # Sources and licence
        ('gad7', 'id = "spitzer_2006"\nsource = "clinical-facts.md 3.1"\n', 'id = "spitzer_2006"\n',
         "missing 'source'"),
        ("gad7", "text_may_ship = true", "text_may_ship = false", "licence"),
        ("pdss", 'label = "Item 3"', 'label = "Anticipatory anxiety about panic"', "neutral"),
        ("gad7", 'rule = "no_total"', 'rule = "prorate"', "missing_items.rule"),
        # Thresholds
        ("gad7", "at_least = 10", "at_least = 22", "cut-off"),
        ("gad7", "at_least = 10", "at_least = true", "whole number"),
        ("gad7", "response_reduction_percent = 50", "response_reduction_percent = 150",
         "response_reduction_percent"),
        ("gad7", "mcid = 4\n", "mcid = 0\n", "mcid"),
        ("gad7", 'mcid_source = "clinical-facts.md 3.1 (Toussaint et al. 2020)"\n', "",
         "mcid_source"),
        ("phq9", "at_least = 1\n", "at_least = 4\n", "at_least"),
        ("phq9", 'item = "q9"', 'item = "q10"', "unknown item"),
        ("pcl5", "threshold = 33", "threshold = 81", "threshold"),
        ("pcl5", "cluster_c = 1", "cluster_c = 3", "cluster"),
        ("pcl5", "cluster_c = 1", "cluster_f = 1", "unknown cluster"),
        ("hama", 'items = ["q7"', 'items = ["q15"', "unknown item"),
        # Band sets chosen by context must cover every case exactly once
        ("pdss", "when = { agoraphobia = true }", "when = { agoraphobia = false }",
         "exactly one band set"),
        ("pdss", "when = { agoraphobia = true }", "when = { agorophobia = true }",
         "unknown context"),
        ("gad7", "[[band_sets]]", "[[band_setz]]", "unknown key"),
        # Skip logic and risk levels
        ("cssrs_screener", 'id = "q3"\nlabel = "Item 3"\nasked_if = { item = "q2"',
         'id = "q3"\nlabel = "Item 3"\nasked_if = { item = "q6"', "earlier item"),
        ("cssrs_screener", "otherwise = true", "otherwise = false", "otherwise"),
        ("cssrs_screener", 'any_yes = ["q4", "q5"', 'any_yes = ["q4", "q55"', "unknown item"),
        ("dast10", 'kind = "yes_no"', 'kind = "yesno"', "kind"),
    ],
)  # fmt: skip
def test_a_broken_definition_is_refused(instrument_id, old, new, complaint):
    with pytest.raises(DefinitionError) as caught:
        instruments.parse(broken(instrument_id, old, new), expected_id=instrument_id)
    assert complaint in str(caught.value)


def test_a_definition_without_bands_must_say_why():
    text = shipped_text("gad7").split("[[band_sets]]")[0]
    with pytest.raises(DefinitionError, match="no_bands_reason"):
        instruments.parse(text, expected_id="gad7")


def test_a_file_named_for_another_instrument_is_refused():
    with pytest.raises(DefinitionError, match="file name"):
        instruments.parse(shipped_text("gad7"), expected_id="phq9")


def test_text_that_is_not_toml_is_refused():
    with pytest.raises(DefinitionError, match="not valid TOML"):
        instruments.parse("id = gad7 [", expected_id="gad7")


def test_the_shipped_files_parse_unchanged():
    for inst in instruments.all_instruments():
        assert instruments.parse(shipped_text(inst.id), expected_id=inst.id) == inst


# --- Clinic overrides ------------------------------------------------------------------------


def test_a_clinic_may_lower_the_pcl5_threshold():
    clinic = instruments.get("pcl5", overrides={"provisional_diagnosis": {"threshold": 31}})
    assert clinic.provisional_diagnosis.threshold == 31
    assert clinic.provisional_diagnosis.endorsed_at == 2  # the rest is untouched
    assert instruments.get("pcl5").provisional_diagnosis.threshold == 33  # shipped unchanged


def test_overrides_outside_the_thresholds_are_refused():
    with pytest.raises(KeyError):
        instruments.get("gad7", overrides={"band_sets": []})
    with pytest.raises(KeyError):
        instruments.get("gad7", overrides={"outcomes": {"mcdi": 3}})


def test_an_override_is_checked_like_the_file():
    with pytest.raises(DefinitionError, match="threshold"):
        instruments.get("pcl5", overrides={"provisional_diagnosis": {"threshold": 0}})


# --- Pure Python -----------------------------------------------------------------------------


def test_the_package_imports_nothing_from_django():
    package = Path(instruments.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"django", "ninja"}, path.name
                assert not name.startswith("kapstone.") or name.startswith(
                    ("kapstone.clinical", "kapstone.errors")
                ), path.name
