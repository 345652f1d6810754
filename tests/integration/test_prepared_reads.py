"""Prepared queries read together (kapstone.core.prepared.Reads): the same rows, converted
the same way, as each query on its own; on PostgreSQL in one round trip."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapstone.core.prepared import Prepared, Reads
from kapstone.patients import queries
from kapstone.patients.models import Allergy, BodyMeasurement, Patient

pytestmark = pytest.mark.django_db

_BY_LAST_NAME = Prepared(lambda name: Patient.objects.filter(last_name=name).order_by("pk"))
_ALLERGIES = Prepared(lambda patient_id: Allergy.objects.filter(patient_id=patient_id))
_WEIGHTS = Prepared(
    lambda patient_id: (
        BodyMeasurement.objects.filter(patient_id=patient_id)
        .order_by("pk")
        .values_list("measured_at", "weight_kg")
    )
)


@pytest.fixture
def awkward(make_patient):
    """Values the client-side binding must quote: an apostrophe, a percent sign, a
    backslash, a semicolon that must not end the statement."""
    patient = make_patient(last_name="O'Brien; 100% \\ done", weight="70.25")
    Allergy.objects.create(patient=patient, substance="Penicillin", active=False)
    Allergy.objects.create(patient=patient, substance="Latex")
    return patient


def test_reads_together_give_what_each_query_gives_alone(awkward, make_patient):
    make_patient(last_name="Someone Else")
    alone = [
        _BY_LAST_NAME.rows(awkward.last_name),
        _ALLERGIES.rows(awkward.pk),
        _WEIGHTS.rows(awkward.pk),
        _ALLERGIES.rows(0),
    ]
    reads = Reads()
    together = [
        reads.add(_BY_LAST_NAME, awkward.last_name),
        reads.add(_ALLERGIES, awkward.pk),
        reads.add(_WEIGHTS, awkward.pk),
        reads.add(_ALLERGIES, 0),
    ]
    assert [read.rows() for read in together] == alone
    assert len(alone[0]) == 1 and len(alone[1]) == 2 and alone[3] == []
    # Converted as the ORM converts: an aware datetime and a Decimal.
    measured_at, weight = alone[2][0]
    assert measured_at.tzinfo is not None and str(weight) == "70.25"
    assert [a.substance for a in together[1].instances()] == ["Latex", "Penicillin"]


def test_reads_run_once_when_the_first_is_asked_for(awkward):
    reads = Reads()
    first = reads.add(_ALLERGIES, awkward.pk)
    second = reads.add(_BY_LAST_NAME, awkward.last_name)
    with CaptureQueriesContext(connection) as run:
        first.rows()
    with CaptureQueriesContext(connection) as later:
        assert second.rows()[0][0] == awkward.pk
    assert len(later.captured_queries) == 0
    expected = 1 if connection.vendor == "postgresql" else 2
    assert len(run.captured_queries) == expected


def test_the_chart_reads_in_one_round_trip_on_postgresql(awkward):
    with CaptureQueriesContext(connection) as run:
        patient = queries.chart(awkward.pk)
    assert patient.last_name == awkward.last_name
    assert [a.substance for a in patient.allergies.all()] == ["Latex", "Penicillin"]
    assert str(patient.recent_measurements[0].weight_kg) == "70.25"
    expected = 1 if connection.vendor == "postgresql" else 8
    assert len(run.captured_queries) == expected


def test_a_missing_patient_is_still_refused(db):
    with pytest.raises(Patient.DoesNotExist):
        queries.chart(0)


def test_reads_from_another_database_are_refused():
    other = Prepared(lambda pk: Patient.objects.filter(pk=pk), using="other")
    with pytest.raises(ValueError, match="same database"):
        Reads().add(other, 1)


def _server_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.postgres
def test_on_postgresql_each_query_is_prepared_once_per_connection(awkward):
    assert connection.vendor == "postgresql", "run this in the PostgreSQL pass"
    first = _ALLERGIES.rows(awkward.pk)
    assert _ALLERGIES.name in _server_statements()
    with CaptureQueriesContext(connection) as again:
        assert _ALLERGIES.rows(awkward.pk) == first
    (sent,) = again.captured_queries
    assert sent["sql"].startswith(f"EXECUTE {_ALLERGIES.name}(") and "PREPARE" not in sent["sql"]


@pytest.mark.postgres
def test_on_postgresql_a_failed_batch_drops_and_prepares_again(awkward):
    from django.db import DatabaseError, transaction

    assert connection.vendor == "postgresql", "run this in the PostgreSQL pass"
    _ALLERGIES.rows(awkward.pk)
    broken = Prepared(lambda pk: Patient.objects.filter(pk=pk).extra(where=["1/0 = 1"]))
    reads = Reads()
    reads.add(_WEIGHTS, awkward.pk)
    failing = reads.add(broken, awkward.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        failing.rows()
    # The connection's prepared statements are unknown now: they are dropped and prepared
    # again with the next queries, which answer as before.
    with CaptureQueriesContext(connection) as recovered:
        rows = _ALLERGIES.rows(awkward.pk)
    assert recovered.captured_queries[0]["sql"].startswith("DEALLOCATE ALL; PREPARE")
    assert [row[2] for row in rows] == ["Latex", "Penicillin"]


@pytest.mark.postgres
def test_on_postgresql_searches_of_a_few_words_are_prepared_and_longer_ones_are_not(awkward):
    from django.core.paginator import Paginator

    assert connection.vendor == "postgresql", "run this in the PostgreSQL pass"

    def written() -> set[str]:
        return {name for name in _server_statements() if name.startswith("kapstone_w_")}

    def search(text: str) -> list[int]:
        page = Paginator(queries.SearchResults(text), 25).get_page(1)
        return [p.pk for p in page.object_list]

    before = written()
    assert search("o'brien") == [awkward.pk]
    assert search("o'b") == [awkward.pk]  # the same shape: one statement for both
    assert len(written() - before) == 1
    assert search("o'brien 100% done a b") == []
    assert len(written() - before) == 1


def _same_instance(built, made) -> None:
    assert type(built) is type(made)
    fields = {k: v for k, v in built.__dict__.items() if k != "_state"}
    assert fields == {k: v for k, v in made.__dict__.items() if k != "_state"}
    assert (built._state.adding, built._state.db) == (made._state.adding, made._state.db)
    assert built._state.adding is False


@pytest.mark.parametrize(
    "model_name", ["patients.Patient", "patients.Allergy", "audit.AuditEvent", "staff.User"]
)
def test_built_instances_are_what_from_db_makes(awkward, clinician, model_name):
    from django.apps import apps

    from kapstone.core.prepared import build_instances

    model = apps.get_model(model_name)
    every = Prepared(lambda: model.objects.order_by("pk"), arity=0)
    rows = every.rows()
    assert rows, "the fixture made no rows of this model"
    built = build_instances(model, rows, "default")
    made = [model.from_db("default", None, row) for row in rows]
    for one, other in zip(built, made, strict=True):
        _same_instance(one, other)
    # They behave as Django's do: related objects load, saving updates rather than inserts.
    if model is Allergy:
        assert built[0].patient == awkward
        built[0].substance = "Iodine"
        built[0].save()
        assert Allergy.objects.filter(substance="Iodine").count() == 1


def test_a_model_with_init_listeners_is_built_through_from_db(awkward):
    from django.db.models.signals import post_init

    from kapstone.core.prepared import build_instances

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listener, sender=Allergy)
    try:
        built = build_instances(Allergy, _ALLERGIES.rows(awkward.pk), "default")
    finally:
        post_init.disconnect(listener, sender=Allergy)
    assert sorted(seen) == sorted(a.pk for a in built) and len(seen) == 2


def test_rows_of_the_wrong_width_are_refused(awkward):
    from kapstone.core.prepared import build_instances

    with pytest.raises(ValueError, match="Allergy rows have"):
        build_instances(Allergy, [row[:-1] for row in _ALLERGIES.rows(awkward.pk)], "default")


def test_patients_of_one_site_share_its_instance(make_patient, clinic):
    first, second = (make_patient(home_site=clinic[1]) for _ in range(2))
    listed = queries.SearchResults("Testpatient")[0:25]
    assert {p.pk for p in listed} >= {first.pk, second.pk}
    sites = {id(p.home_site) for p in listed if p.home_site_id == clinic[1].pk}
    assert len(sites) == 1
    assert listed[0].home_site == clinic[1]


_EITHER = Prepared(lambda a, b: Patient.objects.filter(pk__in=[a, b]).values_list("pk"), arity=2)
_SEX = Prepared(lambda sex: Patient.objects.filter(sex_at_birth=sex).values_list("pk"))


@pytest.mark.parametrize("other", [-1, 0, 2**62, -(2**62)])
def test_whole_numbers_are_bound_as_the_driver_would(awkward, other):
    assert _EITHER.rows(awkward.pk, other) == [[awkward.pk]]
    assert _EITHER.rows(other, awkward.pk) == [[awkward.pk]]


def test_numbers_written_as_text_are_quoted_not_written_in(awkward):
    # A text value that looks like a number, or like SQL, is still one quoted value.
    assert _SEX.rows("1") == []
    assert _SEX.rows("female') OR ('1'='1") == []
    assert [awkward.pk] in _SEX.rows("female")
