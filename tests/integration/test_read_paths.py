"""The list page and the chart read records through prepared SQL (kapstone.core.prepared and
the search's own SQL); what they read must be exactly what the ORM would read."""

from datetime import date, timedelta

import pytest
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.utils import timezone

from kapstone.patients import actions, queries
from kapstone.patients.models import BodyMeasurement, Patient

pytestmark = pytest.mark.django_db

HISTORY = (
    "contacts",
    "allergies",
    "medications",
    "diagnoses",
    "medication_trials",
    "psychotherapy_courses",
)


def _orm_chart(patient_id: int) -> Patient:
    """The chart as the ORM reads it, prefetching every relation."""
    return (
        Patient.objects.select_related("home_site")
        .prefetch_related(
            *HISTORY,
            Prefetch(
                "measurements",
                queryset=BodyMeasurement.objects.order_by("-measured_at", "-pk")[:20],
                to_attr="recent_measurements",
            ),
        )
        .get(pk=patient_id)
    )


def _values(row) -> list:
    """Every stored value of a row, with its type (a Decimal must stay a Decimal)."""
    return [
        (f.attname, getattr(row, f.attname), type(getattr(row, f.attname)))
        for f in row._meta.concrete_fields
    ]


@pytest.fixture
def full_chart(make_patient, clinician, clinic):
    _, site = clinic
    patient = make_patient(home_site=site, preferred_name="Bo")
    now = timezone.now()
    for i in range(24):  # more than the 20 the chart shows
        actions.record_measurement(
            by=clinician,
            patient=patient,
            weight=f"{70 + i}.25",
            height="170.5",
            measured_at=now - timedelta(days=i),
        )
    for i, code in enumerate(["F41.1", "F40.10", "F43.10"]):
        actions.add_diagnosis(by=clinician, patient=patient, code=code, is_primary=i == 0)
        actions.add_contact(
            by=clinician,
            patient=patient,
            name=f"Contact {i}",
            relationship="Friend",
            phone="207-555-0100",
            is_emergency_contact=True,
            is_escort=i % 2 == 0,
        )
        actions.add_allergy(by=clinician, patient=patient, substance=f"Substance {i}")
        actions.add_medication(by=clinician, patient=patient, name=f"Medication {i}", dose="5 mg")
        actions.add_medication_trial(
            by=clinician,
            patient=patient,
            drug=f"Drug {i}",
            drug_class="ssri",
            weeks=6 + i,
            response="none",
            adequate_dose=i != 1,
            max_daily_dose_mg="12.5" if i else None,
            started_on=date(2020, 1 + i, 1) if i else None,
        )
        actions.add_psychotherapy_course(
            by=clinician, patient=patient, modality="cbt", sessions=8 + i, response="partial"
        )
    return patient


def test_chart_reads_what_the_orm_reads(full_chart, make_patient):
    bare = make_patient()
    for patient in (full_chart, bare):
        expected, shown = _orm_chart(patient.pk), queries.chart(patient.pk)
        assert _values(shown) == _values(expected)
        if expected.home_site is None:
            assert shown.home_site is None
        else:
            assert _values(shown.home_site) == _values(expected.home_site)
        for name in HISTORY:
            assert [_values(r) for r in getattr(shown, name).all()] == [
                _values(r) for r in getattr(expected, name).all()
            ], name
        assert len(shown.recent_measurements) == len(expected.recent_measurements)
        assert [_values(m) for m in shown.recent_measurements] == [
            _values(m) for m in expected.recent_measurements
        ]


def test_chart_relations_stay_scoped_to_the_patient(full_chart, make_patient, clinician):
    other = make_patient()
    actions.add_allergy(by=clinician, patient=other, substance="Latex")
    shown = queries.chart(full_chart.pk)
    # Anything chained on a relation still reads this patient's rows only.
    assert set(shown.allergies.values_list("patient_id", flat=True)) == {full_chart.pk}
    assert shown.contacts.all()[0].patient is shown


def test_chart_of_a_missing_patient_raises_does_not_exist(db):
    with pytest.raises(Patient.DoesNotExist):
        queries.chart(987654321)


@pytest.fixture
def many(make_patient, clinic):
    _, site = clinic
    people = [
        ("Ann", "Smith", ""),
        ("Anna", "Smithers", "Annie"),
        ("Bob", "Smyth", ""),
        ("Ånders", "Ødegaard", ""),
        ("Zoë", "O'Brien", "Zo"),
        ("Li", "Smith", ""),
        ("Per%cent", "Under_score", ""),
    ]
    made = [
        make_patient(first_name=f, last_name=l, preferred_name=p, home_site=site if i % 2 else None)
        for i, (f, l, p) in enumerate(people)
    ]
    made += [make_patient() for _ in range(30)]  # more than a page of "Testpatient..."
    return made


SEARCHES = [
    "",
    ",",
    "smi",
    "SMITH",
    "ann smi",
    "smi, ann",
    "annie",
    "ode",
    "ødegaard",
    "o'b",
    "o'brien",
    "per%",
    "under_",
    "_",
    "%",
    "testp",
    "robin testpatient1",
    "1985-04-12",
    "04/12/1985",
    "zzz",
]


@pytest.mark.parametrize("text", SEARCHES)
def test_list_search_finds_what_search_finds_in_the_same_order(many, text):
    expected = Paginator(queries.search(text), 25)
    for number in (None, "1", "2", "3", "0", "-1", "x", "99"):
        want = expected.get_page(number)
        got = Paginator(queries.SearchResults(text, number), 25).get_page(number)
        assert got.paginator.count == want.paginator.count
        assert got.number == want.number
        assert [p.pk for p in got.object_list] == [p.pk for p in want.object_list]
        assert [p.home_site.pk if p.home_site else None for p in got.object_list] == [
            p.home_site_id for p in want.object_list
        ]


def test_list_search_by_record_number(many):
    target = many[3]
    got = Paginator(queries.SearchResults(target.record_number.lower()), 25).get_page(1)
    assert [p.pk for p in got.object_list] == [target.pk]
