"""Each page and API answer costs a fixed number of SQL queries, however much data there is.

A query per row (a template touching a relation that was not prefetched, an audit event
written one at a time) would make the count grow with the data, so every test here measures
the same request against a small and a large data set and compares the counts, and also
caps the absolute count so that a new fixed cost shows up too.

Each client makes one request before measuring: the first request of a session stores the
idle timer and the first use of an API token stamps it, writes later requests skip.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapstone.access.roles import Role
from kapstone.patients import actions
from kapstone.staff.actions import issue_api_token

pytestmark = pytest.mark.django_db

# Ceilings a query above today's counts. Each page is the session with its user (with roles
# and authenticator, one query; an API answer reads its token, then the user), the records
# shown, and the audit event.
# - SQLite (list 6, chart 17, API list 9, API detail 8, API clinical 15): the chart's record,
#   its six kinds of history, the clinic's settings, two queries for the questionnaire
#   scores and two for home practice, one by one; the audit event in three statements, plus
#   one for the patients a list event names.
# - PostgreSQL (list 3, chart 3, API 6): the chart's queries go to the server together
#   (kapstone.core.prepared.Reads) and the audit event is one statement.
# A list page is one query either way (its ids with the count, joined to those patients).
# Raise one only for a reason you can name.
_POSTGRES = connection.vendor == "postgresql"
LIST_MAX = 4 if _POSTGRES else 7
CHART_MAX = 4 if _POSTGRES else 18
API_LIST_MAX = 7 if _POSTGRES else 10
API_DETAIL_MAX = 7 if _POSTGRES else 9
API_CLINICAL_MAX = 7 if _POSTGRES else 16

SMALL_PATIENTS = 3
LARGE_PATIENTS = 40  # more than one page of 25
HISTORY_ROWS = 15

# Distinct billable ICD-10-CM codes, one per diagnosis row.
DIAGNOSIS_CODES = [
    "F41.1",
    "F41.0",
    "F40.10",
    "F40.11",
    "F43.10",
    "F43.12",
    "F40.00",
    "F40.01",
    "F40.02",
    "F41.8",
    "F41.9",
    "F40.240",
    "F40.241",
    "F40.242",
    "F40.243",
]
MODALITIES = ["cbt", "exposure", "emdr", "act", "psychodynamic", "ifs", "dbt"]


# Tests run inside a transaction, so the views' atomic blocks become savepoints here; in the
# server they are the transaction itself and cost no statement of their own.
_TEST_ONLY = ("SAVEPOINT ", "RELEASE SAVEPOINT ")


def _get(client, url, **headers):
    """The response and the SQL it ran, failing unless it answered 200."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, f"GET {url} answered {response.status_code}"
    return response, [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(_TEST_ONLY)
    ]


def _assert_same_count(small: list[str], large: list[str], ceiling: int):
    assert len(large) == len(small), (
        f"{len(small)} queries with little data but {len(large)} with more:\n" + "\n".join(large)
    )
    assert len(large) <= ceiling, f"{len(large)} queries, more than {ceiling}:\n" + "\n".join(large)


def _add_history(by, patient, rows: int):
    """`rows` of every kind of history row (registration already made one measurement)."""
    now = timezone.now()
    for i in range(1, rows):
        actions.record_measurement(
            by=by,
            patient=patient,
            weight=str(70 + i),
            height="170",
            measured_at=now - timedelta(days=30 * i),
        )
    for i in range(rows):
        actions.add_contact(
            by=by,
            patient=patient,
            name=f"Contact {i}",
            relationship="Friend",
            phone="207-555-0100",
            is_emergency_contact=True,
            is_escort=i % 2 == 0,
        )
        actions.add_allergy(by=by, patient=patient, substance=f"Substance {i}", severity="mild")
        actions.add_medication(by=by, patient=patient, name=f"Medication {i}", dose="10 mg")
        actions.add_diagnosis(by=by, patient=patient, code=DIAGNOSIS_CODES[i], is_primary=i == 0)
        actions.add_medication_trial(
            by=by,
            patient=patient,
            drug=f"Drug {i}",
            drug_class="ssri",
            weeks=8,
            response="none",
            adequate_dose=True,
            max_daily_dose_mg="20",
        )
        actions.add_psychotherapy_course(
            by=by,
            patient=patient,
            modality=MODALITIES[i % len(MODALITIES)],
            sessions=12,
            response="partial",
        )


@pytest.fixture
def small_and_large_charts(make_patient, clinician):
    """Two patients: one row of each kind of history, and HISTORY_ROWS of each."""
    small = make_patient()
    _add_history(clinician, small, 1)
    large = make_patient()
    _add_history(clinician, large, HISTORY_ROWS)
    return small, large


@pytest.fixture
def api_headers(make_staff):
    token = issue_api_token(by=None, user=make_staff(Role.NURSE), name="t")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# make_patient gives every patient this date of birth and a last name starting "Testpatient".
SEARCHES = ["", "testp", "robin testpat", "1985-04-12"]


@pytest.mark.parametrize("q", SEARCHES)
def test_patient_list_queries_do_not_grow_with_patients(client_for, make_patient, clinic, q):
    _, site = clinic
    client = client_for(Role.NURSE)
    # The list shows each patient's home site: a per-row lookup would show up here.
    for _ in range(SMALL_PATIENTS):
        make_patient(home_site=site)
    url = f"/patients/?q={q}"
    client.get(url)

    response, small = _get(client, url)
    assert len(response.context["patients"]) == SMALL_PATIENTS

    for _ in range(LARGE_PATIENTS - SMALL_PATIENTS):
        make_patient(home_site=site)
    response, large = _get(client, url)
    assert len(response.context["patients"]) == 25
    _assert_same_count(small, large, LIST_MAX)

    response, last_page = _get(client, f"{url}&page=2")
    assert len(response.context["patients"]) == LARGE_PATIENTS - 25
    _assert_same_count(small, last_page, LIST_MAX)


def test_chart_queries_do_not_grow_with_history(client_for, small_and_large_charts):
    small_patient, large_patient = small_and_large_charts
    client = client_for(Role.NURSE)
    client.get(f"/patients/{small_patient.pk}/")

    response, small = _get(client, f"/patients/{small_patient.pk}/")
    assert response.context["sections"] == {"demographics", "clinical", "diagnoses"}

    response, large = _get(client, f"/patients/{large_patient.pk}/")
    shown = response.context["patient"]
    assert len(shown.contacts.all()) == HISTORY_ROWS
    assert len(shown.diagnoses.all()) == HISTORY_ROWS
    assert len(shown.medication_trials.all()) == HISTORY_ROWS
    assert len(shown.recent_measurements) == HISTORY_ROWS
    _assert_same_count(small, large, CHART_MAX)


@pytest.mark.parametrize("q", SEARCHES)
def test_api_patient_list_queries_do_not_grow_with_patients(api_headers, client, make_patient, q):
    for _ in range(SMALL_PATIENTS):
        make_patient()
    url = f"/api/patients?q={q}"
    client.get(url, **api_headers)

    response, small = _get(client, url, **api_headers)
    assert len(response.json()["results"]) == SMALL_PATIENTS

    for _ in range(LARGE_PATIENTS - SMALL_PATIENTS):
        make_patient()
    response, large = _get(client, url, **api_headers)
    assert response.json()["count"] == LARGE_PATIENTS
    assert len(response.json()["results"]) == 25
    _assert_same_count(small, large, API_LIST_MAX)


def test_api_patient_detail_queries_do_not_grow_with_contacts(
    api_headers, client, small_and_large_charts
):
    small_patient, large_patient = small_and_large_charts
    client.get(f"/api/patients/{small_patient.pk}", **api_headers)

    _, small = _get(client, f"/api/patients/{small_patient.pk}", **api_headers)
    response, large = _get(client, f"/api/patients/{large_patient.pk}", **api_headers)
    assert len(response.json()["contacts"]) == HISTORY_ROWS
    _assert_same_count(small, large, API_DETAIL_MAX)


def test_api_clinical_queries_do_not_grow_with_history(api_headers, client, small_and_large_charts):
    small_patient, large_patient = small_and_large_charts
    url = "/api/patients/{}/clinical"
    client.get(url.format(small_patient.pk), **api_headers)

    _, small = _get(client, url.format(small_patient.pk), **api_headers)
    response, large = _get(client, url.format(large_patient.pk), **api_headers)
    body = response.json()
    for key in ("allergies", "medications", "measurements", "medication_trials"):
        assert len(body[key]) == HISTORY_ROWS, key
    assert len(body["psychotherapy_courses"]) == HISTORY_ROWS
    _assert_same_count(small, large, API_CLINICAL_MAX)
