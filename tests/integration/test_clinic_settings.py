"""Changing the clinic's settings: the action, the page and `kapstone settings`."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from kapstone.access.roles import Role
from kapstone.audit.models import AuditEvent
from kapstone.clinical import settings_check
from kapstone.core import clinic_settings
from kapstone.core.clinic_settings import (
    can_update_settings,
    check_can_update_settings,
    update_clinic_settings,
)
from kapstone.core.models import Organization
from kapstone.errors import AccessDenied, InvalidInputs
from kapstone.integration.actions import MAX_PRACTICE_LINK_DAYS
from kapstone.treatment.models import Consent
from tests.integration.access import events_since, last_seq

REASON = "Agreed at the clinical governance meeting"
CHECKINS = {"checkins": {"overdue_after_hours": 12}}
MONITORING = {"monitoring": {"pre_dose": {"fasting_hours": 6}}}


def saved() -> dict:
    return Organization.objects.get(pk=Organization.current().pk).settings_overrides


@pytest.fixture
def admin(make_staff):
    return make_staff(Role.CLINIC_ADMIN)


@pytest.fixture
def director(make_staff):
    return make_staff(Role.PRESCRIBER)


# ---------------------------------------------------------------------------------------------
# The action


@pytest.mark.parametrize(
    ("roles", "overrides", "allowed"),
    [
        ((Role.CLINIC_ADMIN,), CHECKINS, True),
        ((Role.CLINIC_ADMIN,), MONITORING, False),
        ((Role.PRESCRIBER,), CHECKINS, True),
        ((Role.PRESCRIBER,), MONITORING, True),
        ((Role.CLINIC_ADMIN, Role.PRESCRIBER), {**CHECKINS, **MONITORING}, True),
        ((Role.NURSE,), CHECKINS, False),
    ],
)
def test_who_may_save_what(roles, overrides, allowed, clinic, make_staff):
    # Arrange
    user = make_staff(*roles)
    sections = set(overrides)

    # Act
    answer = can_update_settings(user, sections)

    # Assert
    assert answer is allowed
    if allowed:
        update_clinic_settings(by=user, overrides=overrides, reason=REASON)
        assert saved() == overrides


def test_without_the_permission_nothing_is_saved(clinic, make_staff):
    nurse = make_staff(Role.NURSE)

    with pytest.raises(AccessDenied):
        update_clinic_settings(by=nurse, overrides=CHECKINS, reason=REASON)

    assert saved() == {}


def test_a_clinic_admin_is_refused_a_clinical_section_by_name(clinic, admin):
    # Arrange
    overrides = {
        **CHECKINS,
        **MONITORING,
        "outcomes": {"gad7": {"mcid": 5}},
    }
    before = last_seq()

    # Act
    with pytest.raises(InvalidInputs) as refused:
        update_clinic_settings(by=admin, overrides=overrides, reason=REASON)

    # Assert
    problems = {(e.field, e.message) for e in refused.value.errors}
    assert problems == {
        ("monitoring", "only a prescriber (medical director) can change a clinical section"),
        ("outcomes", "only a prescriber (medical director) can change a clinical section"),
    }
    assert saved() == {}
    assert events_since(before) == []


def test_a_clinic_admin_keeps_the_directors_clinical_settings_while_changing_others(
    clinic, admin, director
):
    # Arrange
    update_clinic_settings(by=director, overrides=MONITORING, reason=REASON)

    # Act
    update_clinic_settings(by=admin, overrides={**MONITORING, **CHECKINS}, reason=REASON)

    # Assert
    assert saved() == {**MONITORING, **CHECKINS}
    with pytest.raises(InvalidInputs) as refused:
        update_clinic_settings(by=admin, overrides=CHECKINS, reason=REASON)
    assert [e.field for e in refused.value.errors] == ["monitoring"]


def test_the_gate_pair_agree(clinic, admin, director):
    with pytest.raises(InvalidInputs):
        check_can_update_settings(admin, {"pk"})
    check_can_update_settings(director, {"pk"})
    assert not can_update_settings(admin, {"pk"})
    assert can_update_settings(director, {"pk"})


@pytest.mark.parametrize(
    ("reason", "words"),
    [("", "is required"), ("   ", "is required"), ("ok", "at least 10 characters")],
)
def test_a_reason_is_required(reason, words, clinic, admin):
    with pytest.raises(InvalidInputs) as refused:
        update_clinic_settings(by=admin, overrides=CHECKINS, reason=reason)

    (problem,) = refused.value.errors
    assert problem.field == "reason"
    assert words in problem.message
    assert saved() == {}


def test_every_problem_is_reported_and_nothing_saved(clinic, director):
    # Arrange
    update_clinic_settings(by=director, overrides=CHECKINS, reason=REASON)
    bad = {
        "checkins": {"overdue_after_hours": 0},
        "home_practice": {"link_days": 400},
        "monitoring": {"pre_dose": {"fasting_hours": 48}},
    }
    before = last_seq()

    # Act
    with pytest.raises(InvalidInputs) as refused:
        update_clinic_settings(by=director, overrides=bad, reason="")

    # Assert
    assert [e.field for e in refused.value.errors] == [
        "reason",
        "checkins.overdue_after_hours",
        "home_practice.link_days",
        "monitoring.pre_dose.fasting_hours",
    ]
    assert saved() == CHECKINS
    assert events_since(before) == []


def test_unchanged_settings_are_not_saved_again(clinic, admin):
    update_clinic_settings(by=admin, overrides=CHECKINS, reason=REASON)

    with pytest.raises(InvalidInputs) as refused:
        update_clinic_settings(by=admin, overrides=CHECKINS, reason=REASON)

    assert [e.field for e in refused.value.errors] == ["settings"]


def test_one_audit_row_names_sections_and_keys_never_values(clinic, director):
    # Arrange
    update_clinic_settings(by=director, overrides=CHECKINS, reason=REASON)
    overrides = {
        "checkins": {"overdue_after_hours": 12},
        "consent": {"form_version": "Form-Robin-7"},
        "monitoring": {"thresholds": {"heart_rate": {"above": "123"}}},
        "home_practice": {},
    }
    before = last_seq()

    # Act
    clinic = update_clinic_settings(by=director, overrides=overrides, reason=REASON)

    # Assert
    (event,) = events_since(before)
    assert event.action == "settings.update"
    assert event.actor_id == director.pk
    assert event.patient_id is None
    assert event.target_id == str(clinic.pk)
    assert event.detail == {
        "sections": ["consent", "monitoring"],
        "keys": ["consent.form_version", "monitoring.thresholds.heart_rate.above"],
        "clinical": True,
        "reason": REASON,
    }
    text = json.dumps(event.detail)
    assert "Form-Robin-7" not in text and "123" not in text
    # An empty section changes nothing and is not kept.
    assert "home_practice" not in saved()


def test_saved_settings_are_what_the_clinic_reads(clinic, director):
    update_clinic_settings(
        by=director,
        overrides={"home_practice": {"link_days": 14}, "consent": {"form_version": "3"}},
        reason=REASON,
    )

    config = Organization.current().config
    assert config.practice_link_days == 14
    assert config.consent_form_version == "3"


# ---------------------------------------------------------------------------------------------
# The page


def test_page_shows_the_settings_as_toml_and_what_ships(clinic, director, client_for):
    # Arrange
    update_clinic_settings(
        by=director,
        overrides={"checkins": {"overdue_after_hours": 12}, "ledger": {"closed_days": []}},
        reason=REASON,
    )
    client = client_for(Role.CLINIC_ADMIN)

    # Act
    response = client.get(reverse("clinic_settings"))

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    assert "[checkins]\noverdue_after_hours = 12" in html
    assert 'id="shipped-checkins"' in html
    assert "link_valid_hours = 72" in html
    assert "clinical-facts.md section 4.5" in html
    assert "only a prescriber can change them" in html
    assert 'href="/settings/"' in html


def test_page_names_problems_in_settings_saved_by_hand(clinic, client_for):
    # Arrange
    Organization.objects.filter(pk=Organization.current().pk).update(
        settings_overrides={"home_practice": {"link_days": 365}}
    )
    client = client_for(Role.PRESCRIBER)

    # Act
    response = client.get(reverse("clinic_settings"))

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    assert "do not pass today's checks" in html
    assert "home_practice.link_days: must be a whole number of days from 1 to 90" in html


def post(client, settings: str, reason: str = REASON):
    return client.post(reverse("clinic_settings_save"), {"settings": settings, "reason": reason})


def test_good_post_saves_and_redirects(clinic, client_for):
    # Arrange
    client = client_for(Role.PRESCRIBER)
    before = last_seq()

    # Act
    response = post(client, "[monitoring.pre_dose]\nfasting_hours = 6\n")

    # Assert
    assert response.status_code == 302
    assert response["Location"] == reverse("clinic_settings")
    assert saved() == {"monitoring": {"pre_dose": {"fasting_hours": 6}}}
    assert [e.action for e in events_since(before)] == ["settings.update"]


def test_bad_toml_is_422_with_line_and_column(clinic, client_for):
    client = client_for(Role.CLINIC_ADMIN)

    response = post(client, "[checkins]\noverdue_after_hours = twelve-Robin\n")

    html = response.content.decode()
    assert response.status_code == 422
    assert "are not valid TOML" in html
    assert "line 2, column 23" in html
    assert "Nothing was saved" in html
    assert saved() == {}


def test_checker_problems_are_422_naming_each_key_path(clinic, client_for):
    client = client_for(Role.PRESCRIBER)

    response = post(
        client,
        "[checkins]\noverdue_after_hours = 0\n[home_practice]\nlink_days = 91\n"
        "[monitoring.pre_dose]\nfasting_hours = 30\n",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "checkins.overdue_after_hours: must be a whole number of hours of at least 1" in html
    assert "home_practice.link_days: must be a whole number of days from 1 to 90" in html
    assert "monitoring.pre_dose.fasting_hours: must be a number of hours from 0 to 24" in html
    assert saved() == {}


def test_clinic_admin_editing_a_clinical_section_sees_the_refusal(clinic, client_for):
    client = client_for(Role.CLINIC_ADMIN)

    response = post(client, "[eligibility.rules.no_escort]\nenabled = false\n")

    html = response.content.decode()
    assert response.status_code == 422
    assert "eligibility: only a prescriber (medical director) can change a clinical section" in (
        html
    )
    assert saved() == {}


def test_missing_reason_is_422_on_the_reason(clinic, client_for):
    client = client_for(Role.CLINIC_ADMIN)

    response = post(client, "[checkins]\noverdue_after_hours = 12\n", reason="")

    assert response.status_code == 422
    assert "Reason for the change" in response.content.decode()
    assert "This field is required." in response.content.decode()
    assert saved() == {}


# ---------------------------------------------------------------------------------------------
# The command


def run(*args: str) -> str:
    out = StringIO()
    call_command("settings", *args, stdout=out)
    return out.getvalue()


def test_show_prints_the_settings_as_toml(clinic, director):
    assert run("show") == "# No changes: the shipped defaults apply.\n"
    update_clinic_settings(by=director, overrides=CHECKINS, reason=REASON)

    assert run("show") == "[checkins]\noverdue_after_hours = 12\n"


def test_check_prints_every_problem_and_fails(clinic, tmp_path):
    # Arrange
    path = tmp_path / "settings.toml"
    path.write_text('[home_practice]\nlink_days = 0\n[consent]\nform_version = ""\n')
    out = StringIO()

    # Act
    with pytest.raises(CommandError) as failed:
        call_command("settings", "check", str(path), stdout=out)

    # Assert
    assert out.getvalue().splitlines() == [
        "home_practice.link_days: must be a whole number of days from 1 to 90",
        "consent.form_version: must be the consent form's version as text, not empty",
    ]
    assert failed.value.returncode == 1


def test_check_passes_a_good_file(clinic, tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[home_practice]\nlink_days = 14\n")

    assert run("check", str(path)) == "settings OK\n"
    assert saved() == {}


def test_check_names_the_place_of_a_toml_error(clinic, tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[home_practice\n")
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("settings", "check", str(path), stdout=out)

    assert out.getvalue().startswith("settings: are not valid TOML")
    assert "line 1" in out.getvalue()


def test_apply_saves_as_the_user(clinic, director, tmp_path):
    # Arrange
    path = tmp_path / "settings.toml"
    path.write_text("[monitoring.pre_dose]\nfasting_hours = 8\n")
    before = last_seq()

    # Act
    output = run("apply", str(path), "--by", director.username, "--reason", REASON)

    # Assert
    assert "settings saved" in output
    assert saved() == {"monitoring": {"pre_dose": {"fasting_hours": 8}}}
    (event,) = events_since(before)
    assert (event.action, event.actor_id) == ("settings.update", director.pk)


def test_apply_keeps_the_users_permissions(clinic, admin, make_staff, tmp_path):
    # Arrange
    path = tmp_path / "settings.toml"
    path.write_text("[monitoring.pre_dose]\nfasting_hours = 8\n")
    nurse = make_staff(Role.NURSE)
    out = StringIO()

    # Act
    with pytest.raises(CommandError) as clinical:
        call_command(
            "settings", "apply", str(path), "--by", admin.username, "--reason", REASON, stdout=out
        )
    with pytest.raises(CommandError) as denied:
        call_command("settings", "apply", str(path), "--by", nurse.username, "--reason", REASON)

    # Assert
    assert out.getvalue() == (
        "monitoring: only a prescriber (medical director) can change a clinical section\n"
    )
    assert "nothing was saved" in str(clinical.value)
    assert "settings.manage" in str(denied.value)
    assert saved() == {}
    assert not AuditEvent.objects.filter(action="settings.update").exists()


@pytest.mark.parametrize(
    "args",
    [("check",), ("apply", "x.toml"), ("apply", "x.toml", "--by", "nobody", "--reason", REASON)],
)
def test_command_refuses_missing_arguments(args, clinic, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text("[home_practice]\nlink_days = 14\n")

    with pytest.raises(CommandError):
        run(*args)

    assert saved() == {}


def test_as_toml_and_parse_toml_round_trip():
    overrides = {
        "crisis_resources": {"lines": [{"name": "On call", "how": "Call 555 0100"}]},
        "monitoring": {"pre_dose": {"pregnancy_test_required": True}},
    }

    assert clinic_settings.parse_toml(clinic_settings.as_toml(overrides)) == overrides


def test_the_checkers_bounds_are_those_of_the_records():
    # The pure checker cannot import the Django modules whose bounds it repeats.
    assert settings_check.LINK_DAYS == (1, MAX_PRACTICE_LINK_DAYS)
    max_length = Consent._meta.get_field("form_version").max_length
    assert settings_check.FORM_VERSION_MAX_CHARS == max_length
