"""Rules for a patient's identity fields. Pure Python."""

import re
import unicodedata
from datetime import date

from kapstone.errors import InvalidInput

MAX_AGE_YEARS = 120
_RECORD_NUMBER = re.compile(r"^K\d{6,}$")


def normalise_name(name: str) -> str:
    """Lower-case with accents removed, so 'José' is found by 'jose'."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def check_name(field: str, value: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(field, "is required")
    if len(value) > 100:
        raise InvalidInput(field, "must be at most 100 characters")
    return value


def check_date_of_birth(dob: date | None, today: date) -> date:
    if dob is None:
        raise InvalidInput("date_of_birth", "is required")
    if dob > today:
        raise InvalidInput("date_of_birth", "cannot be in the future")
    if today.year - dob.year > MAX_AGE_YEARS:
        raise InvalidInput("date_of_birth", f"gives an age over {MAX_AGE_YEARS} years")
    return dob


def age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def format_record_number(number: int) -> str:
    return f"K{number:06d}"


def looks_like_record_number(text: str) -> bool:
    return bool(_RECORD_NUMBER.match(text.strip().upper()))
