import pytest

from kapstone.monitoring.mdc import codes, lookup, unit_to_ucum
from kapstone.monitoring.vitals import Vital, spec


@pytest.mark.parametrize(
    "code, ref, vital, loinc",
    [
        (150456, "MDC_PULS_OXIM_SAT_O2", Vital.SPO2, "59408-5"),
        (150021, "MDC_PRESS_BLD_NONINV_SYS", Vital.SYSTOLIC_BP, "8480-6"),
        (150022, "MDC_PRESS_BLD_NONINV_DIA", Vital.DIASTOLIC_BP, "8462-4"),
        (150023, "MDC_PRESS_BLD_NONINV_MEAN", Vital.MEAN_BP, "8478-0"),
        (147842, "MDC_ECG_HEART_RATE", Vital.HEART_RATE, "8867-4"),
        (149530, "MDC_PULS_OXIM_PULS_RATE", Vital.HEART_RATE, "8867-4"),
        (151562, "MDC_RESP_RATE", Vital.RESPIRATORY_RATE, "9279-1"),
        (151570, "MDC_TTHOR_RESP_RATE", Vital.RESPIRATORY_RATE, "9279-1"),
        (150364, "MDC_TEMP_BODY", Vital.TEMPERATURE, "8310-5"),
    ],
)
def test_mdc_codes_map_to_vitals(code, ref, vital, loinc):
    for found in (lookup(code), lookup(str(code)), lookup(None, ref), lookup("", ref)):
        assert found is not None
        assert (found.code, found.ref, found.vital, found.loinc) == (code, ref, vital, loinc)
        assert found.unit == spec(vital).unit


def test_the_numeric_code_wins_over_the_reference_id():
    assert lookup("150456", "MDC_ECG_HEART_RATE").vital == Vital.SPO2


@pytest.mark.parametrize(
    "code, ref", [(999999, None), ("abc", None), (None, "MDC_CONC_AWAY_CO2_ET"), (None, None)]
)
def test_unknown_codes_have_no_mapping(code, ref):
    assert lookup(code, ref) is None


def test_every_mapping_cites_a_source_and_says_whether_it_was_confirmed():
    for entry in codes().values():
        assert entry.source
        assert entry.confirmed or "UNCONFIRMED" in entry.source
        assert entry.loinc == spec(entry.vital).loinc


@pytest.mark.parametrize(
    "code, text, ucum",
    [
        ("266016", "MDC_DIM_MMHG", "mm[Hg]"),
        ("", "MDC_DIM_MMHG", "mm[Hg]"),
        ("262688", "", "%"),
        ("264864", None, "/min"),
        ("264928", None, "/min"),
        ("268192", None, "Cel"),
        ("mm[Hg]", None, "mm[Hg]"),
        ("mmHg", None, "mm[Hg]"),
        ("{beat}/min", None, "/min"),
        ("/min", None, "/min"),
        ("%", None, "%"),
        ("furlongs", None, None),
        (None, None, None),
    ],
)
def test_units_map_to_ucum(code, text, ucum):
    assert unit_to_ucum(code, text) == ucum
