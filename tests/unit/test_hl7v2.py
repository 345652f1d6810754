from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.monitoring.hl7v2 import (
    AckCode,
    Header,
    Problem,
    Refused,
    Rejected,
    build_ack,
    make_handler,
    parse_oru,
    reject_ack,
)
from kapstone.monitoring.vitals import Vital

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hl7"
EST = timezone(timedelta(hours=-5))
RECORD_NUMBER = "K000123"


def fixture(name: str) -> str:
    # The files keep LF line ends for reading; HL7 ends segments with CR.
    return (FIXTURES / name).read_text().replace("\n", "\r")


def ack_parts(ack: str) -> dict:
    message = hl7.parse(ack)
    errs = (
        [
            (str(err[2]), str(err[3][0][0]), str(err[4]), str(err[8]))
            for err in message.segments("ERR")
        ]
        if any(str(s[0]) == "ERR" for s in message)
        else []
    )
    msa = message.segment("MSA")
    return {"code": str(msa[1]), "control_id": str(msa[2]), "errs": errs}


def test_a_normal_message_gives_one_reading_per_observation():
    message = parse_oru(fixture("normal.hl7"))
    assert message.patient_id == RECORD_NUMBER
    assert message.control_id == "MSG00001"
    assert message.problems == ()
    at = datetime(2026, 1, 15, 10, 30, tzinfo=EST)
    assert [(r.vital, r.value, r.unit, r.loinc, r.taken_at) for r in message.readings] == [
        (Vital.SYSTOLIC_BP, Decimal(128), "mm[Hg]", "8480-6", at),
        (Vital.DIASTOLIC_BP, Decimal(82), "mm[Hg]", "8462-4", at),
        (Vital.MEAN_BP, Decimal(97), "mm[Hg]", "8478-0", at),
        (Vital.SPO2, Decimal(97), "%", "59408-5", at),
        (Vital.HEART_RATE, Decimal(72), "/min", "8867-4", at),
        (Vital.RESPIRATORY_RATE, Decimal(14), "/min", "9279-1", at),
    ]


def test_observation_time_comes_from_obx14_else_the_groups_obr7():
    readings = parse_oru(fixture("several_groups.hl7")).readings
    assert [(r.vital, r.value, r.taken_at.strftime("%H:%M:%S")) for r in readings] == [
        (Vital.SYSTOLIC_BP, Decimal(146), "10:40:00"),
        (Vital.DIASTOLIC_BP, Decimal(94), "10:40:00"),
        (Vital.HEART_RATE, Decimal(88), "10:40:00"),
        (Vital.SYSTOLIC_BP, Decimal(132), "10:50:00"),
        (Vital.DIASTOLIC_BP, Decimal(86), "10:50:00"),
        (Vital.SPO2, Decimal(90), "10:49:55"),
        (Vital.RESPIRATORY_RATE, Decimal(16), "10:50:00"),
    ]


def test_times_without_an_offset_take_the_clinics_zone():
    text = fixture("unknown_patient.hl7").replace("-0500", "")
    (reading,) = parse_oru(text, default_tz=ZoneInfo("America/New_York")).readings
    assert reading.taken_at.utcoffset() == timedelta(hours=-5)


def test_the_medical_record_number_is_preferred_among_identifiers():
    text = fixture("unknown_patient.hl7").replace(
        "PID|||K999999^^^KAPSTONE^MR", "PID|||555^^^OTHER^PI~K000777^^^KAPSTONE^MR"
    )
    assert parse_oru(text).patient_id == "K000777"


@pytest.mark.parametrize(
    "name, problems",
    [
        (
            "unknown_mdc.hl7",
            [
                (2, 3, "103", "observation code not known"),
                (3, 3, "103", "observation code must be an MDC code"),
            ],
        ),
        (
            "partial.hl7",
            [
                (2, 5, "101", "value missing"),
                (3, 6, "101", "units missing"),
                (4, 6, "103", "units do not match the observation"),
                (5, 5, "207", "heart_rate: must be a number"),
                (6, 5, "101", "value missing"),
            ],
        ),
        (
            "implausible.hl7",
            [
                (1, 5, "207", "heart_rate: must be between 20 and 300 /min"),
                (2, 5, "207", "spo2: must be between 20 and 100 %"),
                (3, 5, "207", "systolic_bp: must exceed the diastolic pressure"),
                (4, 5, "207", "systolic_bp: must exceed the diastolic pressure"),
            ],
        ),
    ],
)
def test_bad_observations_are_listed_and_the_good_ones_kept(name, problems):
    message = parse_oru(fixture(name))
    assert [(p.sequence, p.field, p.code, p.text.split(" (")[0]) for p in message.problems] == (
        problems
    )
    assert len(message.readings) == 1


@pytest.mark.parametrize(
    "obx, problem",
    [
        (
            "OBX|1|ST|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^^MDC|||||R",
            "value type must be NM",
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^^MDC|||||X",
            "result status is not recordable",
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^^MDC|||||R|||yesterday",
            "observation time not readable",
        ),
    ],
)
def test_other_observation_problems(obx, problem):
    text = f"MSH|^~\\&|GW|R|||||ORU^R01|C1|P|2.6\rPID|||K000123\r{obx}"
    message = parse_oru(text)
    assert [p.text for p in message.problems] == [problem]


def test_an_observation_with_no_time_anywhere_is_refused():
    text = (
        "MSH|^~\\&|GW|R|||||ORU^R01|C1|P|2.6\rPID|||K000123\r"
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|262688^^MDC|||||R"
    )
    assert [p.text for p in parse_oru(text).problems] == ["observation time missing"]


@pytest.mark.parametrize(
    "text, field, code, words",
    [
        (fixture("no_msh.hl7"), None, "100", "message must begin with MSH"),
        (fixture("bad_encoding.hl7"), 2, "102", "encoding characters"),
        (fixture("wrong_type.hl7"), 9, "200", "only ORU^R01 is accepted"),
        (fixture("no_patient_id.hl7"), 3, "101", "patient identifier missing"),
        ("MSH|^~\\&|GW|R|||||ORU^R01||P|2.6\rPID|||K1", 10, "101", "control id missing"),
        ("", None, "100", "message must begin with MSH"),
        ("\x00\x01garbage", None, "100", "message must begin with MSH"),
    ],
)
def test_unreadable_messages_are_rejected(text, field, code, words):
    with pytest.raises(Rejected) as rejected:
        parse_oru(text)
    assert rejected.value.problem.field == field
    assert rejected.value.problem.code == code
    assert words in rejected.value.problem.text


def stored(messages):
    return lambda message: messages.append(message)


@pytest.mark.parametrize(
    "name, code, control_id, errors",
    [
        ("normal.hl7", "AA", "MSG00001", []),
        ("several_groups.hl7", "AA", "MSG00002", []),
        ("unknown_mdc.hl7", "AA", "MSG00003", [("OBX^2^3", "103", "W"), ("OBX^3^3", "103", "W")]),
        (
            "partial.hl7",
            "AA",
            "MSG00004",
            [
                ("OBX^2^5", "101", "W"),
                ("OBX^3^6", "101", "W"),
                ("OBX^4^6", "103", "W"),
                ("OBX^5^5", "207", "W"),
                ("OBX^6^5", "101", "W"),
            ],
        ),
        ("no_msh.hl7", "AR", "", [("MSH^1", "100", "E")]),
        ("bad_encoding.hl7", "AR", "MSG00008", [("MSH^1^2", "102", "E")]),
        ("wrong_type.hl7", "AR", "MSG00009", [("MSH^1^9", "200", "E")]),
        ("no_patient_id.hl7", "AR", "MSG00010", [("PID^1^3", "101", "E")]),
    ],
)
def test_the_handler_acknowledges_each_fixture(name, code, control_id, errors):
    messages = []
    ack = make_handler(stored(messages))(fixture(name))
    parts = ack_parts(ack)
    assert (parts["code"], parts["control_id"]) == (code, control_id)
    assert [(loc, err, severity) for loc, err, severity, _ in parts["errs"]] == errors
    assert len(messages) == (1 if code == "AA" else 0)
    assert RECORD_NUMBER not in ack


def test_a_message_with_no_usable_observation_is_answered_ae():
    text = fixture("partial.hl7").replace(
        "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|96|", "OBX|1|NM|150456^^MDC|1||"
    )
    messages = []
    parts = ack_parts(make_handler(stored(messages))(text))
    assert parts["code"] == "AE"
    assert parts["errs"][0] == ("", "101", "E", "no observation recorded")
    assert messages == []


@pytest.mark.parametrize(
    "refusal, location, error",
    [
        (Refused("unknown patient", "204", field=3), "PID^1^3", "204"),
        (Refused("no dosing session in progress"), "PID^1", "207"),
    ],
)
def test_a_store_refusal_is_answered_ae_without_patient_data(refusal, location, error):
    def store(message):
        raise refusal

    ack = make_handler(store)(fixture("unknown_patient.hl7"))
    parts = ack_parts(ack)
    assert parts["code"] == "AE"
    assert parts["errs"] == [(location, error, "E", refusal.text)]
    assert "K999999" not in ack


def test_the_ack_is_hl7_v26_and_answers_the_senders_msh():
    now = datetime(2026, 1, 15, 15, 30, 5, tzinfo=UTC)
    header = Header("MSG1", "GW^ABC^EUI-64", "ROOM_2", "T")
    ack = build_ack(AckCode.ACCEPT, header, now=now, control_id="ACK1")
    assert ack == (
        "MSH|^~\\&|KAPSTONE|KAPSTONE|GW^ABC^EUI-64|ROOM_2|20260115153005+0000||ACK^R01^ACK|"
        "ACK1|T|2.6\rMSA|AA|MSG1\r"
    )


def test_err_text_is_escaped():
    ack = build_ack(AckCode.ERROR, Header("M"), [Problem("OBX", 1, 5, "207", "a|b^c&d~e\\f")])
    assert (
        "ERR||OBX^1^5|207^Application internal error^HL70357|E||||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
        in ack
    )


def test_unsafe_header_fields_are_not_echoed():
    text = "MSH|^~\\&|GW\\E\\|R|||||ORU^R01|C1 D|P|2.6"
    ack = reject_ack(text, "message too large")
    parts = ack_parts(ack)
    assert parts["code"] == "AR"
    assert parts["control_id"] == ""
    assert "GW" not in ack


def test_ack_control_ids_are_unique():
    ids = {
        str(hl7.parse(build_ack(AckCode.ACCEPT, Header("M"))).segment("MSH")[10])
        for _ in range(500)
    }
    assert len(ids) == 500


HEADER = "MSH|^~\\&|GW|R|||||ORU^R01|C1|P|2.6\r"
hl7ish = st.text(alphabet=st.sampled_from(list("|^~\\&\rOBXPIDMSH0123456789.NM -+")), max_size=200)


@given(body=hl7ish)
def test_any_text_is_read_or_rejected_never_crashes(body):
    for text in (body, HEADER + body, HEADER + "PID|||K1\rOBX|" + body):
        try:
            message = parse_oru(text)
        except Rejected as rejected:
            assert rejected.problem.text
        else:
            assert message.control_id == "C1"
        ack = make_handler(lambda message: None)(text)
        assert ack_parts(ack)["code"] in {"AA", "AE", "AR"}


def _part_by_splitting(segment, index, repetition=1, component=1):
    """The field reader as the HL7 rules state it: split every level, always."""
    if index >= len(segment):
        return ""
    repetitions = segment[index].split("~")
    if repetition > len(repetitions):
        return ""
    components = repetitions[repetition - 1].split("^")
    if component > len(components):
        return ""
    return components[component - 1].split("&", 1)[0]


@given(
    st.lists(st.text(alphabet="ab1^~&", max_size=12), min_size=1, max_size=5),
    st.integers(0, 6),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_field_reader_matches_splitting_every_level(segment, index, repetition, component):
    from kapstone.monitoring.hl7v2 import _part

    assert _part(segment, index, repetition, component) == _part_by_splitting(
        segment, index, repetition, component
    )
