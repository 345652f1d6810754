import pytest

from kapstone.clinical import icd10
from kapstone.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("F41.1", "F41.1"),  # generalized anxiety disorder
        ("f41.1", "F41.1"),
        (" F41.0 ", "F41.0"),  # panic disorder
        ("F4010", "F40.10"),  # dot left out
        ("F40.01", "F40.01"),  # agoraphobia with panic disorder
        ("F43.10", "F43.10"),  # PTSD, unspecified
        ("F43.12", "F43.12"),  # chronic PTSD
        ("F40.243", "F40.243"),  # fear of flying
        ("F33.1", "F33.1"),  # recurrent depression, moderate
    ],
)
def test_billable_codes_accepted_and_normalised(raw, code):
    assert icd10.validate(raw) == code


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "must be an ICD-10-CM code"),
        ("41.1", "must be an ICD-10-CM code"),
        ("F41.12345", "must be an ICD-10-CM code"),
        ("anxiety", "must be an ICD-10-CM code"),
        ("X99.999", "not in the ICD-10-CM code set"),
        ("F40.2", "is a category"),  # specific phobia: billable only at the 6th character
        ("F41", "is a category"),
        ("F43.1", "is a category"),
    ],
)
def test_invalid_codes_refused_with_the_rule(raw, fragment):
    with pytest.raises(InvalidInput) as caught:
        icd10.validate(raw)
    assert caught.value.field == "code"
    assert fragment in caught.value.message


def test_category_message_offers_billable_children():
    with pytest.raises(InvalidInput) as caught:
        icd10.validate("F40.2")
    assert "F40.21" in caught.value.message


def test_description_comes_from_the_code_set():
    assert icd10.describe("F41.1") == "Generalized anxiety disorder"
