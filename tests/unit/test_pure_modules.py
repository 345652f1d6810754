"""Clinical rules and the audit chain stay plain Python: they import nothing from Django, so
they can be read, tested and reused without the web framework."""

import ast
from pathlib import Path

import pytest

import kapstone

SRC = Path(kapstone.__file__).parent
PURE = [
    *sorted((SRC / "clinical").glob("*.py")),
    SRC / "access" / "roles.py",
    SRC / "audit" / "chain.py",
    SRC / "ledger" / "rules.py",
    SRC / "ledger" / "chain.py",
    SRC / "dosing" / "rules.py",
    SRC / "dosing" / "gates.py",
    SRC / "assessments" / "episodes.py",
    SRC / "assessments" / "trends.py",
    SRC / "assessments" / "schedule_rules.py",
    SRC / "errors.py",
    SRC / "credentials" / "rules.py",
    SRC / "integration" / "modalities.py",
    SRC / "integration" / "practice.py",
    SRC / "monitoring" / "vitals.py",
    SRC / "monitoring" / "mdc.py",
    SRC / "monitoring" / "hl7v2.py",
    SRC / "monitoring" / "mllp.py",
    SRC / "monitoring" / "schedule.py",
    SRC / "scheduling" / "rules.py",
    SRC / "scheduling" / "series.py",
    SRC / "scheduling" / "cohort.py",
    SRC / "scheduling" / "optimizer.py",
    SRC / "scheduling" / "validate.py",
    SRC / "scheduling" / "ical.py",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_nothing_from_django(path):
    bad = {m for m in imported_modules(path) if m.split(".")[0] in {"django", "ninja"}}
    bad |= {
        m
        for m in imported_modules(path)
        if m.startswith("kapstone.")
        and not m.startswith(
            (
                "kapstone.clinical",
                "kapstone.errors",
                "kapstone.access",
                "kapstone.audit.chain",
                "kapstone.assessments.episodes",
                "kapstone.monitoring.vitals",
                "kapstone.monitoring.mdc",
                "kapstone.monitoring.hl7v2",
                # The settings checker runs these pure modules' own checks of a clinic's
                # settings.
                "kapstone.monitoring.schedule",
                "kapstone.scheduling.series",
                "kapstone.dosing.gates",
                "kapstone.integration.practice",
            )
        )
    }
    assert not bad
