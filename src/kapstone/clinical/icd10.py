"""ICD-10-CM diagnosis codes.

A diagnosis is recorded with a billable ICD-10-CM code: one that exists in the code set and
is a leaf (a category such as F40.2 is refused with a pointer to its billable children).
The code set comes from the simple-icd-10-cm package, which ships the CMS release.
Pure Python.
"""

import re

import simple_icd_10_cm as code_set

from kapstone.errors import InvalidInput

# Letter, two characters, then an optional dot and up to four more (CMS format).
_FORMAT = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")


def normalise(raw: str) -> str:
    """Upper-case, trim, and put the dot after the third character where it was left out."""
    code = raw.strip().upper().replace(" ", "")
    if len(code) > 3 and "." not in code:
        code = f"{code[:3]}.{code[3:]}"
    return code


def validate(raw: str) -> str:
    """Return the normalised code, or raise InvalidInput naming the rule it breaks."""
    code = normalise(raw)
    if not _FORMAT.match(code):
        raise InvalidInput(
            "code",
            "must be an ICD-10-CM code: a letter, two characters, a dot and up to four "
            "more (for example F41.1)",
        )
    if not code_set.is_valid_item(code):
        raise InvalidInput("code", "is not in the ICD-10-CM code set")
    if not code_set.is_leaf(code):
        children = ", ".join(code_set.get_children(code)[:4])
        raise InvalidInput(
            "code",
            f"is a category, not a billable code; choose a more specific code ({children}, ...)",
        )
    return code


def describe(code: str) -> str:
    return code_set.get_description(code)
