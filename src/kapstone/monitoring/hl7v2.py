"""Bedside-monitor results in HL7 v2: read an ORU^R01, answer with an ACK. Pure Python.

A monitor sends vitals as an IHE PCD-01 ORU^R01: the patient in PID-3, one OBX per
measurement with an IEEE 11073 (MDC) code in OBX-3, the value in OBX-5, the unit in OBX-6
and the time in OBX-14 (else OBR-7, else MSH-7). `parse_oru` turns that into checked
readings plus the OBX it could not use; `make_handler` wraps a store around it and answers:

- AR (reject): the message cannot be read: no MSH first, encoding characters other than
  ``^~\\&``, no control id, not an ORU^R01, no patient identifier.
- AE (error): the message was read but nothing was recorded: no usable OBX, or the store
  refused it (unknown patient, no dosing session in progress, no store yet).
- AA (accept): the readings were recorded. OBX that could not be used are listed in ERR
  segments with severity W, so the monitor knows which were left out and does not resend.

ERR text is a fixed phrase naming the segment, field and rule, never a value from the
message: an ACK travels back over the network and may be logged by the sender.

Fields are split here, not with `hl7.parse`: its tree of containers took about 2.5 ms for a
six-OBX PCD-01 message on a loaded 2-core machine, more than the whole per-message budget
of a listener that must acknowledge 1,000 messages a second. The encoding characters are
checked to be the standard ones first, so a plain split is exact; the fields read (codes,
numbers, units, identifiers, times) carry no escape sequences. Times go through
`hl7.parse_datetime`; the tests read every ACK back with `hl7.parse`.
"""

import itertools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone, tzinfo
from enum import StrEnum
from functools import lru_cache, partial

import hl7

from kapstone.errors import InvalidInput
from kapstone.monitoring.mdc import lookup, unit_to_ucum
from kapstone.monitoring.vitals import Reading, Vital, check_blood_pressure, check_reading

ENCODING_CHARACTERS = "^~\\&"
# OBX-11 statuses whose value may be recorded: final, corrected, preliminary and the
# "results entered, not verified" that PCD-01 monitors send for live data.
RECORDABLE_STATUSES = frozenset({"", "F", "C", "P", "R"})

# HL7 table 0357, message error condition codes.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNKNOWN_KEY_IDENTIFIER = "204"
APPLICATION_INTERNAL_ERROR = "207"
ERROR_NAMES = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}

# What may be echoed from the sender's MSH into the ACK: identifiers of systems, not people.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,199}")
_SAFE_APPLICATION = re.compile(r"[A-Za-z0-9 ._:\-^]{0,180}")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}(\||$)")


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


@dataclass(frozen=True)
class Problem:
    """Why one segment (or, with no segment, the whole message) could not be used.

    `sequence` counts that segment type from 1 (the third OBX is OBX 3); `text` is a fixed
    phrase naming the rule, never a value from the message.
    """

    segment: str
    sequence: int
    field: int | None
    code: str
    text: str


@dataclass(frozen=True)
class Header:
    """The parts of the sender's MSH an ACK answers to (never patient data)."""

    control_id: str = ""
    sending_application: str = ""
    sending_facility: str = ""
    processing_id: str = "P"


@dataclass(frozen=True)
class OruMessage:
    header: Header
    patient_id: str
    readings: tuple[Reading, ...]
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def control_id(self) -> str:
        return self.header.control_id


class Rejected(Exception):
    """The message cannot be read: answered AR."""

    def __init__(self, problem: Problem, header: Header | None = None):
        self.problem = problem
        self.header = header or Header()
        super().__init__(problem.text)


class Refused(Exception):
    """The store would not record the readings: answered AE. `text` is a fixed phrase."""

    def __init__(self, text: str, code: str = APPLICATION_INTERNAL_ERROR, field: int | None = None):
        self.text = text
        self.code = code
        self.field = field  # the PID field at fault, if one is
        super().__init__(text)


Segment = list[str]


def _segments(text: str) -> list[Segment]:
    """Split a message (standard encoding characters, already checked) into fields.

    MSH gets its field separator back as field 1, so that segment[n] is field n for every
    segment, MSH included.
    """
    segments = [line.split("|") for line in text.split("\r")]
    segments[0].insert(1, "|")
    return segments


def _part(segment: Segment, index: int, repetition: int = 1, component: int = 1) -> str:
    """Field `index`, repetition and component (1-based) of a segment, "" if absent."""
    if index >= len(segment):
        return ""
    value = segment[index]
    # Most fields have no repetitions, components or subcomponents: split only when there are
    # (this runs a dozen times an OBX, for every message a monitor sends).
    if "~" in value:
        repetitions = value.split("~")
        if repetition > len(repetitions):
            return ""
        value = repetitions[repetition - 1]
    elif repetition != 1:
        return ""
    if "^" in value:
        components = value.split("^")
        if component > len(components):
            return ""
        value = components[component - 1]
    elif component != 1:
        return ""
    return value.split("&", 1)[0] if "&" in value else value


def _repetitions(segment: Segment, index: int) -> int:
    if index >= len(segment) or not segment[index]:
        return 0
    return len(segment[index].split("~"))


def _normalise(text: str) -> str:
    # Segments end in CR; some senders and files use LF or CRLF, or leave blank lines.
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(line for line in lines if line.strip(" \t\x00"))


def _header(text: str) -> Header:
    """The MSH fields an ACK echoes, read leniently from raw text (also for AR answers)."""
    first = _normalise(text).split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return Header()
    fields = first.split(first[3])
    # fields[1] is MSH-2, so MSH-n is fields[n - 1].

    def get(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    control_id = get(10) if _SAFE_ID.fullmatch(get(10)) else ""
    application = get(3) if _SAFE_APPLICATION.fullmatch(get(3)) else ""
    facility = get(4) if _SAFE_APPLICATION.fullmatch(get(4)) else ""
    processing = get(11)[:1] if get(11)[:1] in {"P", "T", "D"} else "P"
    return Header(control_id, application, facility, processing)


@lru_cache(maxsize=256)
def _time(text: str, default_tz: tzinfo) -> datetime | None:
    # Cached: a monitor stamps every OBX of a cycle with the same time.
    if not text:
        return None
    try:
        parsed = hl7.parse_datetime(text)
    except ValueError:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=default_tz)
    # hl7's own offset class, swapped for the standard library's so the time stores anywhere.
    return parsed.replace(tzinfo=timezone(parsed.utcoffset()))


def parse_oru(text: str, *, default_tz: tzinfo = UTC) -> OruMessage:
    """Read an ORU^R01 into checked readings and the problems found; Rejected if unreadable.

    `default_tz` applies to times sent without an offset (PCD-01 asks for one).
    """
    text = _normalise(text)
    header = _header(text)
    if not text.startswith("MSH"):
        raise Rejected(
            Problem("MSH", 1, None, SEGMENT_SEQUENCE_ERROR, "message must begin with MSH")
        )
    if text[3:4] != "|" or text[4:8] != ENCODING_CHARACTERS or text[8:9] not in {"|", "#"}:
        raise Rejected(
            Problem("MSH", 1, 2, DATA_TYPE_ERROR, "encoding characters must be the standard set"),
            header,
        )
    if not header.control_id:
        raise Rejected(
            Problem("MSH", 1, 10, REQUIRED_FIELD_MISSING, "message control id missing"), header
        )
    if not all(_SEGMENT_ID.match(line) for line in text.split("\r")):
        raise Rejected(
            Problem("MSH", 1, None, SEGMENT_SEQUENCE_ERROR, "segment name not readable"), header
        )
    segments = _segments(text)
    msh = segments[0]
    if (_part(msh, 9, 1, 1), _part(msh, 9, 1, 2)) != ("ORU", "R01"):
        raise Rejected(
            Problem("MSH", 1, 9, UNSUPPORTED_MESSAGE_TYPE, "only ORU^R01 is accepted"), header
        )
    patient_id = _patient_id(segments)
    if not patient_id:
        raise Rejected(
            Problem("PID", 1, 3, REQUIRED_FIELD_MISSING, "patient identifier missing"), header
        )
    readings, problems = _observations(segments, default_tz, _time(_part(msh, 7), default_tz))
    return OruMessage(header, patient_id, tuple(readings), tuple(problems))


def _patient_id(segments: list[Segment]) -> str:
    pid = next((segment for segment in segments if segment[0] == "PID"), None)
    if pid is None:
        return ""
    candidates = []
    for repetition in range(1, _repetitions(pid, 3) + 1):
        identifier = _part(pid, 3, repetition, 1).strip()
        if identifier:
            candidates.append((_part(pid, 3, repetition, 5) != "MR", repetition, identifier))
    # The medical record number (CX-5 "MR") if there is one, else the first identifier.
    return min(candidates)[2] if candidates else ""


def _observations(
    segments: list[Segment], default_tz: tzinfo, message_time: datetime | None
) -> tuple[list[Reading], list[Problem]]:
    readings: list[tuple[int, Reading]] = []
    problems: list[Problem] = []
    request_time = message_time
    obx_number = 0
    for segment in segments:
        name = segment[0]
        if name == "OBR":
            request_time = _time(_part(segment, 7), default_tz) or message_time
            continue
        if name != "OBX":
            continue
        obx_number += 1

        problem = partial(_add_problem, problems, obx_number)
        value_type = _part(segment, 2)
        value = _part(segment, 5).strip()
        if not value_type and not value:
            continue  # a device-hierarchy OBX (MDS, VMD, channel): it carries no value
        code, ref, system = (_part(segment, 3, 1, n).strip() for n in (1, 2, 3))
        if system and system != "MDC":
            problem(3, TABLE_VALUE_NOT_FOUND, "observation code must be an MDC code")
            continue
        mapping = lookup(code, ref)
        if mapping is None:
            problem(3, TABLE_VALUE_NOT_FOUND, "observation code not known")
            continue
        if value_type != "NM":
            problem(2, DATA_TYPE_ERROR, "value type must be NM")
            continue
        if not value:
            problem(5, REQUIRED_FIELD_MISSING, "value missing")
            continue
        unit_code, unit_text = _part(segment, 6, 1, 1), _part(segment, 6, 1, 2)
        if not (unit_code or unit_text):
            problem(6, REQUIRED_FIELD_MISSING, "units missing")
            continue
        if unit_to_ucum(unit_code, unit_text) != mapping.unit:
            problem(6, TABLE_VALUE_NOT_FOUND, "units do not match the observation")
            continue
        if _part(segment, 11) not in RECORDABLE_STATUSES:
            problem(11, TABLE_VALUE_NOT_FOUND, "result status is not recordable")
            continue
        observed = _part(segment, 14)
        taken_at = _time(observed, default_tz) if observed else request_time
        if observed and taken_at is None:
            problem(14, DATA_TYPE_ERROR, "observation time not readable")
            continue
        if taken_at is None:
            problem(14, REQUIRED_FIELD_MISSING, "observation time missing")
            continue
        try:
            reading = check_reading(mapping.vital, value, unit=mapping.unit, taken_at=taken_at)
        except InvalidInput as error:
            problem(5, APPLICATION_INTERNAL_ERROR, f"{error.field}: {error.message}")
            continue
        readings.append((obx_number, reading))
    return _pair_blood_pressure(readings, problems)


def _add_problem(
    problems: list[Problem], obx_number: int, field_number: int, code: str, text: str
) -> None:
    problems.append(Problem("OBX", obx_number, field_number, code, text))


def _pair_blood_pressure(
    numbered: list[tuple[int, Reading]], problems: list[Problem]
) -> tuple[list[Reading], list[Problem]]:
    """Refuse each systolic/diastolic pair taken at the same time whose order is impossible."""
    by_time: dict[datetime | None, dict[Vital, tuple[int, Reading]]] = {}
    for number, reading in numbered:
        if reading.vital in {Vital.SYSTOLIC_BP, Vital.DIASTOLIC_BP}:
            by_time.setdefault(reading.taken_at, {})[reading.vital] = (number, reading)
    refused: set[int] = set()
    for pair in by_time.values():
        if Vital.SYSTOLIC_BP in pair and Vital.DIASTOLIC_BP in pair:
            (sys_number, systolic), (dia_number, diastolic) = (
                pair[Vital.SYSTOLIC_BP],
                pair[Vital.DIASTOLIC_BP],
            )
            try:
                check_blood_pressure(systolic, diastolic)
            except InvalidInput as error:
                refused |= {sys_number, dia_number}
                for number in (sys_number, dia_number):
                    problems.append(
                        Problem(
                            "OBX",
                            number,
                            5,
                            APPLICATION_INTERNAL_ERROR,
                            f"{error.field}: {error.message}",
                        )
                    )
    problems.sort(key=lambda p: p.sequence)
    return [reading for number, reading in numbered if number not in refused], problems


_ack_counter = itertools.count(1)


def new_control_id() -> str:
    """A control id for an ACK: unique within this process and across restarts (time-based)."""
    return f"K{time.time_ns() // 1000:x}{next(_ack_counter) % 0x10000:04x}"


def _escape(text: str) -> str:
    # ERR text is ours, but keep it safe to embed in any field.
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )


def build_ack(
    code: AckCode,
    header: Header,
    problems: Sequence[Problem] = (),
    *,
    severity: str = "E",
    now: datetime | None = None,
    control_id: str | None = None,
) -> str:
    """An HL7 v2.6 ACK^R01 answering `header`'s message, with one ERR per problem."""
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    segments = [
        "|".join(
            [
                "MSH",
                ENCODING_CHARACTERS,
                "KAPSTONE",
                "KAPSTONE",
                header.sending_application,
                header.sending_facility,
                stamp,
                "",
                "ACK^R01^ACK",
                control_id or new_control_id(),
                header.processing_id,
                "2.6",
            ]
        ),
        f"MSA|{code}|{header.control_id}",
    ]
    for problem in problems:
        location = f"{problem.segment}^{problem.sequence}" if problem.segment else ""
        if problem.segment and problem.field is not None:
            location += f"^{problem.field}"
        name = ERROR_NAMES.get(problem.code, "")
        segments.append(
            f"ERR||{location}|{problem.code}^{name}^HL70357|{severity}||||{_escape(problem.text)}"
        )
    return "\r".join(segments) + "\r"


def reject_ack(text: str, reason: str, code: str = APPLICATION_INTERNAL_ERROR) -> str:
    """An AR for a message that was not read at all (too large, undecodable)."""
    return build_ack(AckCode.REJECT, _header(text), [Problem("MSH", 1, None, code, reason)])


Store = Callable[[OruMessage], None]


def make_handler(store: Store, *, default_tz: tzinfo = UTC) -> Callable[[str], str]:
    """A message handler for the MLLP server: parse, hand the readings to `store`, ACK.

    `store` records the readings or raises Refused (answered AE with its fixed text).
    """

    def handle(text: str) -> str:
        try:
            message = parse_oru(text, default_tz=default_tz)
        except Rejected as rejected:
            return build_ack(AckCode.REJECT, rejected.header, [rejected.problem])
        if not message.readings:
            nothing = Problem("", 0, None, REQUIRED_FIELD_MISSING, "no observation recorded")
            return build_ack(AckCode.ERROR, message.header, [nothing, *message.problems])
        try:
            store(message)
        except Refused as refused:
            why = Problem("PID", 1, refused.field, refused.code, refused.text)
            return build_ack(AckCode.ERROR, message.header, [why, *message.problems])
        return build_ack(AckCode.ACCEPT, message.header, message.problems, severity="W")

    return handle
