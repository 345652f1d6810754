"""Integration therapy modalities and the structured record each keeps.

Plain Python (no Django). Each modality has a schema: its fields, their kinds and ranges.
``validate`` checks a session's structured fields against it and reports every bad field at
once, naming the field and the rule, never the value (a value may be what the patient said).
These fields are the medical record of the session; the therapist's psychotherapy process
notes are kept apart (kapstone.integration.models.ProcessNote).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kapstone.errors import InvalidInput, InvalidInputs


class Modality(StrEnum):
    EMDR = "emdr"
    ART = "art"
    IFS = "ifs"
    CBT_EXPOSURE = "cbt_exposure"
    SOMATIC = "somatic"
    OTHER = "other"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Modality.EMDR: "EMDR (Eye Movement Desensitization and Reprocessing)",
    Modality.ART: "ART (Accelerated Resolution Therapy)",
    Modality.IFS: "IFS (Internal Family Systems)",
    Modality.CBT_EXPOSURE: "CBT and exposure",
    Modality.SOMATIC: "Somatic practice",
    Modality.OTHER: "Other",
}


class Kind(StrEnum):
    INT = "int"
    TEXT = "text"
    BOOL = "bool"
    CHOICE = "choice"
    PARTS = "parts"  # IFS: a list of {name, role}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: Kind
    required: bool = True
    min: int | None = None
    max: int | None = None
    max_length: int = 200
    choices: tuple[tuple[str, str], ...] = ()
    # Shown in the patient's integration history as one of the session's scores.
    score: bool = False


IFS_ROLES = (
    ("manager", "Manager"),
    ("firefighter", "Firefighter"),
    ("exile", "Exile"),
    ("other", "Other"),
)
SOMATIC_TECHNIQUES = (
    ("breathwork", "Breathwork"),
    ("progressive_muscle_relaxation", "Progressive muscle relaxation"),
    ("yoga", "Yoga"),
    ("grounding", "Grounding"),
    ("other", "Other"),
)
MAX_PARTS = 12
PART_NAME_LENGTH = 60
THOUGHT_LENGTH = 1000


def _sud(name: str, label: str, required: bool = True) -> Field:
    # Subjective Units of Disturbance, 0 (none) to 10 (worst imaginable).
    return Field(name, label, Kind.INT, required, 0, 10, score=True)


SCHEMAS: dict[Modality, tuple[Field, ...]] = {
    Modality.EMDR: (
        Field("phase", "Phase (1-8)", Kind.INT, True, 1, 8, score=True),
        Field("target_memory", "Target memory (short description)", Kind.TEXT, False),
        _sud("sud_before", "SUD before (0-10)", required=False),
        _sud("sud_after", "SUD after (0-10)", required=False),
        # Validity of Cognition of the positive belief, 1 (false) to 7 (completely true).
        Field("voc", "VoC (1-7)", Kind.INT, False, 1, 7, score=True),
    ),
    Modality.ART: (
        Field("scene", "Scene (short description)", Kind.TEXT),
        _sud("sud_before", "SUD before (0-10)"),
        _sud("sud_after", "SUD after (0-10)"),
        Field("image_replaced", "Image replaced", Kind.BOOL, score=True),
    ),
    Modality.IFS: (
        Field("parts", "Parts named", Kind.PARTS, False),
        Field("self_energy", "Self-energy (0-10)", Kind.INT, True, 0, 10, score=True),
    ),
    Modality.CBT_EXPOSURE: (
        Field("situation", "Situation", Kind.TEXT, False, max_length=THOUGHT_LENGTH),
        Field(
            "automatic_thought", "Automatic thought", Kind.TEXT, False, max_length=THOUGHT_LENGTH
        ),
        Field("evidence_for", "Evidence for", Kind.TEXT, False, max_length=THOUGHT_LENGTH),
        Field("evidence_against", "Evidence against", Kind.TEXT, False, max_length=THOUGHT_LENGTH),
        Field("balanced_thought", "Balanced thought", Kind.TEXT, False, max_length=THOUGHT_LENGTH),
        Field("exposure_step", "Exposure step", Kind.TEXT, False),
        # Subjective Units of Distress on the 0-100 scale used in exposure hierarchies.
        Field("suds", "SUDS (0-100)", Kind.INT, False, 0, 100, score=True),
    ),
    Modality.SOMATIC: (
        Field("technique", "Technique", Kind.CHOICE, choices=SOMATIC_TECHNIQUES, score=True),
        Field("practice_minutes", "Minutes of practice", Kind.INT, True, 1, 240, score=True),
    ),
    Modality.OTHER: (Field("description", "What was done", Kind.TEXT, False),),
}

THOUGHT_RECORD = ("situation", "automatic_thought", "evidence_for", "evidence_against")


def modality(value: str) -> Modality:
    try:
        return Modality(value)
    except ValueError:
        raise InvalidInput("modality", "is not one of the listed modalities") from None


def schema(value: Modality | str) -> tuple[Field, ...]:
    return SCHEMAS[modality(value)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(spec: Field, value: Any) -> tuple[Any, list[InvalidInput]]:
    name = spec.name
    if spec.kind is Kind.INT:
        if not _is_int(value) or not spec.min <= value <= spec.max:
            rule = f"must be a whole number from {spec.min} to {spec.max}"
            return None, [InvalidInput(name, rule)]
        return value, []
    if spec.kind is Kind.BOOL:
        if not isinstance(value, bool):
            return None, [InvalidInput(name, "must be yes or no")]
        return value, []
    if spec.kind is Kind.CHOICE:
        if value not in {key for key, _ in spec.choices}:
            return None, [InvalidInput(name, "must be one of the listed choices")]
        return value, []
    if spec.kind is Kind.TEXT:
        if not isinstance(value, str):
            return None, [InvalidInput(name, "must be text")]
        value = value.strip()
        if len(value) > spec.max_length:
            return None, [InvalidInput(name, f"must be at most {spec.max_length} characters")]
        return value, []
    return _check_parts(name, value)


def _check_parts(name: str, value: Any) -> tuple[Any, list[InvalidInput]]:
    if not isinstance(value, list):
        return None, [InvalidInput(name, "must be a list of parts")]
    if len(value) > MAX_PARTS:
        return None, [InvalidInput(name, f"must name at most {MAX_PARTS} parts")]
    errors = []
    parts = []
    roles = {key for key, _ in IFS_ROLES}
    for number, part in enumerate(value, start=1):
        where = f"{name}[{number}]"
        if not isinstance(part, Mapping) or set(part) - {"name", "role"}:
            errors.append(InvalidInput(where, "must have a name and a role only"))
            continue
        part_name = part.get("name")
        if not isinstance(part_name, str) or not part_name.strip():
            errors.append(InvalidInput(f"{where}.name", "is required"))
        elif len(part_name.strip()) > PART_NAME_LENGTH:
            errors.append(
                InvalidInput(f"{where}.name", f"must be at most {PART_NAME_LENGTH} characters")
            )
        if part.get("role") not in roles:
            errors.append(
                InvalidInput(f"{where}.role", "must be manager, firefighter, exile or other")
            )
        if not errors:
            parts.append({"name": part_name.strip(), "role": part["role"]})
    return parts, errors


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate(modality_value: Modality | str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The structured fields, cleaned, or InvalidInputs naming every bad field.

    Unknown fields are refused; optional fields left blank are left out.
    """
    mod = modality(modality_value)
    fields = SCHEMAS[mod]
    known = {spec.name for spec in fields}
    errors = [
        InvalidInput(key, f"is not a field of the {mod.label} record")
        for key in data
        if key not in known
    ]
    clean: dict[str, Any] = {}
    for spec in fields:
        value = data.get(spec.name)
        if _blank(value):
            if spec.required:
                errors.append(InvalidInput(spec.name, "is required"))
            continue
        checked, problems = _check(spec, value)
        errors += problems
        if not problems and not _blank(checked):
            clean[spec.name] = checked
    if mod is Modality.CBT_EXPOSURE and not errors:
        if not any(clean.get(name) for name in (*THOUGHT_RECORD, "exposure_step")):
            # Read with the field's label: "Situation or an exposure step is required".
            errors.append(InvalidInput("situation", "or an exposure step is required"))
        if "suds" in clean and "exposure_step" not in clean:
            errors.append(InvalidInput("exposure_step", "is required when SUDS is given"))
    if errors:
        raise InvalidInputs(errors)
    return clean


@dataclass(frozen=True)
class Shown:
    label: str
    value: str
    score: bool = field(default=False)


def _display(spec: Field, value: Any) -> str:
    if spec.kind is Kind.BOOL:
        return "Yes" if value else "No"
    if spec.kind is Kind.CHOICE:
        return dict(spec.choices).get(value, str(value))
    if spec.kind is Kind.PARTS:
        roles = dict(IFS_ROLES)
        return "; ".join(f"{p['name']} ({roles.get(p['role'], p['role'])})" for p in value)
    return str(value)


def describe(modality_value: Modality | str, data: Mapping[str, Any]) -> list[Shown]:
    """The recorded fields in schema order, for display (scores marked)."""
    return [
        Shown(spec.label, _display(spec, data[spec.name]), spec.score)
        for spec in schema(modality_value)
        if spec.name in data
    ]


def scores(modality_value: Modality | str, data: Mapping[str, Any]) -> list[Shown]:
    return [shown for shown in describe(modality_value, data) if shown.score]
