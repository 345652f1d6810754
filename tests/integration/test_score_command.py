"""`kapstone score`: prints the result as JSON, refuses bad answers naming the item and rule."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command


def words(text: str) -> list[str]:
    return text.split()


def run(*args: str) -> dict:
    out = StringIO()
    call_command("score", *args, stdout=out)
    return json.loads(out.getvalue())


def test_gad7():
    result = run("gad7", "0", "0", "1", "1", "0", "1", "0")
    assert result["total"] == 3
    assert result["max_total"] == 21
    assert result["band"]["id"] == "minimal"
    assert result["flags"] == []
    assert result["complete"] is True


def test_phq9_item_9_flag_is_printed():
    result = run("phq9", "0", "0", "0", "1", "2", "1", "3", "2", "1")
    assert result["total"] == 10
    assert result["flags"][0]["code"] == "suicide_risk"
    assert result["flags"][0]["urgent"] is True


def test_subscales_are_printed():
    result = run("hama", *words("2 2 2 2 2 2 1 1 1 1 1 1 1 2"))
    assert result["subscales"] == {"psychic": 14, "somatic": 7}


def test_cssrs_with_skip_logic_and_yes_no_words():
    result = run("cssrs_screener", "yes", "n", "-", "-", "-", "Y", "no")
    assert result["missing"] == []
    assert result["extra"]["risk_level"] == "moderate"
    assert result["flags"][0]["level"] == "moderate"


def test_dast10_accepts_1_and_0():
    assert run("dast10", *words("1 1 0 1 1 1 1 1 1 1"))["total"] == 10


@pytest.mark.parametrize(("flag", "band"), [("--agoraphobia", "normal"),
                                            ("--no-agoraphobia", "borderline")])  # fmt: skip
def test_pdss_agoraphobia(flag, band):
    assert run("pdss", "1", "1", "0", "0", "0", "0", "0", flag)["band"]["id"] == band


def test_missing_answer_gives_no_total():
    result = run("gad7", "0", "-", "1", "1", "0", "1", "0")
    assert result["total"] is None
    assert result["missing"] == ["q2"]


def test_list():
    out = StringIO()
    call_command("score", "--list", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0].split()[:2] == ["auditc", "AUDIT-C"]
    assert any(line.startswith("cssrs_screener") and "risk level" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gad7", "0", "0", "1"], "GAD-7 answers: must be 7 answers, one per item in order"),
        (["gad7", "0", "0", "9", "1", "0", "1", "0"], "GAD-7 q3: must be a whole number from 0 to 3"),
        (["gad7", "0", "0", "1", "1", "0", "1", "-1"], "GAD-7 q7: must be a whole number from 0 to 3"),
        (["gad7", "0", "0", "x", "1", "0", "1", "0"], "GAD-7 q3: must be a whole number from 0 to 3"),
        (["dast10", *words("1 1 maybe 1 1 1 1 1 1 1")], "DAST-10 q3: must be yes or no"),
        (["cssrs_screener", "n", "n", "y", "-", "-", "n", "-"],
         "C-SSRS screener q3: must be left blank unless q2 is yes"),
        (["pdss", "1", "1", "0", "0", "0", "0", "0"], "PDSS agoraphobia: must be given"),
        (["gad7", "0", "0", "1", "1", "0", "1", "0", "--agoraphobia"], "GAD-7 agoraphobia"),
        (["madrs", "1"], "unknown instrument 'madrs'"),
        ([], "name an instrument"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_item_and_rule(args, message):
    with pytest.raises(CommandError) as caught:
        call_command("score", *args, stdout=StringIO())
    assert message in str(caught.value)


def test_the_value_given_is_not_echoed():
    # Answers are patient data; the message names the item and the rule only.
    with pytest.raises(CommandError) as caught:
        call_command("score", "phq9", *words("0 0 0 0 0 0 0 0 87"), stdout=StringIO())
    assert str(caught.value) == "PHQ-9 q9: must be a whole number from 0 to 3"


def _command(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"KAPSTONE_DATA_DIR": str(tmp_path), "SECRET_KEY": "test-only"}
    executable = Path(sys.executable).parent / "kapstone"
    return subprocess.run(
        [str(executable), "score", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_the_kapstone_console_command(tmp_path):
    done = _command("gad7", "0", "0", "1", "1", "0", "1", "0", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["total"], result["band"]["label"]) == (3, "Minimal")

    refused = _command("gad7", "0", "0", "1", tmp_path=tmp_path)
    assert refused.returncode != 0
    assert "GAD-7 answers: must be 7 answers" in refused.stderr
    assert refused.stdout == ""
