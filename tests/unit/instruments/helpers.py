"""Answer builders and Hypothesis strategies shared by the instrument tests."""

from hypothesis import strategies as st

from kapstone.clinical.instruments import Instrument


def lowest(inst: Instrument) -> dict:
    """Every asked item at its fewest points; skip logic followed."""
    answers: dict = {}
    for item in inst.items:
        answers[item.id] = item.answers[0] if asked(item, answers) else None
    return answers


def asked(item, answers: dict) -> bool:
    condition = item.asked_if
    return condition is None or answers.get(condition.item) is condition.answer


def with_total(inst: Instrument, total: int) -> dict:
    """Answers adding to ``total``, filling items in form order."""
    answers = {}
    left = total
    for item in inst.items:
        points = min(left, item.max_points)
        answers[item.id] = item.answers[points]
        left -= points
    assert left == 0, "total above the instrument's range"
    return answers


@st.composite
def complete_answers(draw, inst: Instrument) -> dict:
    answers: dict = {}
    for item in inst.items:
        answers[item.id] = draw(st.sampled_from(item.answers)) if asked(item, answers) else None
    return answers


def contexts(inst: Instrument):
    return st.fixed_dictionaries({flag.id: st.booleans() for flag in inst.context})


def to_words(inst: Instrument, answers: dict) -> list[str]:
    words = []
    for item in inst.items:
        value = answers.get(item.id)
        if value is None:
            words.append("-")
        elif isinstance(value, bool):
            words.append("y" if value else "n")
        else:
            words.append(str(value))
    return words
