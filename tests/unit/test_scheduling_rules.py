"""Credential rules: which session needs which credential, and expired ones not counting."""

from datetime import date, timedelta

import pytest

from kapstone.errors import InvalidInput
from kapstone.scheduling import rules as r
from kapstone.scheduling.rules import Credential, Kind, Presence, SessionSpec

TODAY = date(2026, 3, 2)


def dosing(route):
    return SessionSpec(Kind.DOSING, route=route)


def integration(modality):
    return SessionSpec(Kind.INTEGRATION, modality=modality)


@pytest.mark.parametrize(
    ("session", "assigned", "on_site"),
    [
        (dosing("iv"), {"acls"}, set()),
        (dosing("im"), {"acls"}, set()),
        (dosing("sc"), {"acls"}, set()),
        (dosing("sl"), {"acls"}, set()),
        (dosing("in_esketamine"), set(), {"prescriber"}),
        (integration("emdr"), {"emdr"}, set()),
        (integration("ifs"), {"ifs"}, set()),
        (integration("art"), {"art"}, set()),
        (integration("cbt"), set(), set()),
        (integration("somatic"), set(), set()),
    ],
)
def test_each_credential_rule(session, assigned, on_site):
    assert r.required_credentials(session) == assigned
    assert r.required_credentials(session, Presence.ON_SITE) == on_site


@pytest.mark.parametrize(
    ("session", "roles"),
    [(dosing("iv"), {"nurse", "prescriber"}), (integration("emdr"), {"therapist"})],
)
def test_roles_per_kind(session, roles):
    assert r.allowed_roles(session) == roles


def test_every_rule_cites_clinical_facts_or_says_it_has_none():
    rules = r.rule_set()
    for requirement in rules.requirements:
        assert "clinical-facts.md §6" in requirement.source, requirement.id
    assert rules.roles_source.startswith("no source in clinical-facts.md")


def test_kap_training_is_not_required_without_a_source():
    every = {req.credential for req in r.rule_set().requirements}
    assert "kap_training" not in every


@pytest.mark.parametrize(
    ("credentials", "session", "roles", "refused"),
    [
        ([Credential("acls", TODAY)], dosing("iv"), {"nurse"}, None),  # expires today: counts
        ([Credential("acls")], dosing("iv"), {"prescriber"}, None),
        ([Credential("acls", TODAY - timedelta(days=1))], dosing("iv"), {"nurse"}, "ACLS"),
        ([], dosing("iv"), {"nurse"}, "ACLS"),
        ([Credential("acls")], dosing("iv"), {"therapist"}, "nurse or prescriber"),
        ([], dosing("in_esketamine"), {"nurse"}, None),  # the prescriber is on site, not assigned
        ([Credential("emdr")], integration("emdr"), {"therapist"}, None),
        ([Credential("ifs")], integration("emdr"), {"therapist"}, "EMDR"),
        ([Credential("emdr", date(2026, 1, 1))], integration("emdr"), {"therapist"}, "EMDR"),
        ([Credential("ifs")], integration("ifs"), {"therapist"}, None),
        ([], integration("art"), {"therapist"}, "ART"),
        ([], integration("cbt"), {"therapist"}, None),
        ([Credential("emdr")], integration("emdr"), {"nurse"}, "therapist"),
    ],
)
def test_check_staff_can_cover(credentials, session, roles, refused):
    if refused is None:
        r.check_staff_can_cover(credentials, session, TODAY, roles=roles)
        return
    with pytest.raises(InvalidInput) as error:
        r.check_staff_can_cover(credentials, session, TODAY, roles=roles)
    assert error.value.field == "staff"
    assert refused in error.value.message


def test_missing_credentials_ignores_expired_ones():
    held = [Credential("acls", TODAY - timedelta(days=1)), Credential("emdr")]
    assert r.missing_credentials(held, dosing("iv"), TODAY) == {"acls"}
    assert r.missing_credentials(held, dosing("iv"), TODAY - timedelta(days=1)) == set()


def test_a_credential_not_yet_issued_does_not_count():
    later = [Credential("acls", issued=TODAY + timedelta(days=1))]
    assert r.missing_credentials(later, dosing("iv"), TODAY) == {"acls"}
    assert r.missing_credentials(later, dosing("iv"), TODAY + timedelta(days=1)) == set()


def test_expiring_lists_the_soon_expiring_soonest_first():
    held = [
        Credential("acls", TODAY + timedelta(days=59)),
        Credential("emdr", TODAY + timedelta(days=61)),
        Credential("ifs", TODAY + timedelta(days=3)),
        Credential("art", TODAY - timedelta(days=1)),  # already expired: no longer counts
        Credential("prescriber"),  # no expiry
        Credential("x", TODAY),
    ]
    assert [c.code for c in r.expiring(held, TODAY)] == ["x", "ifs", "acls"]
    assert [c.code for c in r.expiring(held, TODAY, days=61)] == ["x", "ifs", "acls", "emdr"]
