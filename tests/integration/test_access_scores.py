"""The scores page and its picture downloads, against every role."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.access.roles import Permission as P
from kapstone.assessments import actions
from kapstone.patients.models import Patient
from tests.integration.access import (
    ALL_ROLES,
    Page,
    check_anonymous_is_sent_to_login,
    check_declared_permission,
    check_page_access,
)


@dataclass
class World:
    patient: Patient


@pytest.fixture
def world(make_patient, clinician):
    patient = make_patient(first_name="Avery", last_name="Testpatient")
    for days_ago, value, timepoint in ((14, 2, "baseline"), (7, 1, "weekly")):
        actions.record_assessment(
            by=clinician,
            patient=patient,
            instrument="gad7",
            answers={f"q{i}": value for i in range(1, 8)},
            answered_at=timezone.now() - timedelta(days=days_ago),
            timepoint=timepoint,
        )
    return World(patient=patient)


def _picture(fmt: str) -> Page:
    return Page(
        f"scores-picture-{fmt}",
        "get",
        "patient_scores_picture",
        P.PATIENT_VIEW_CLINICAL,
        args=lambda w: [w.patient.pk, "gad7", fmt],
        audit="patient.export",
    )


PAGES = [
    Page("scores", "get", "patient_scores", P.PATIENT_VIEW_CLINICAL, audit="patient.view"),
    _picture("png"),
    _picture("svg"),
]


@pytest.mark.parametrize("role", ALL_ROLES, ids=str)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_access_follows_role_map(page, role, world, client_for):
    check_page_access(page, role, world, client_for)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_declares_the_tables_permission(page, world):
    check_declared_permission(page, world)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_anonymous_is_sent_to_login(page, world, client):
    check_anonymous_is_sent_to_login(page, world, client)
