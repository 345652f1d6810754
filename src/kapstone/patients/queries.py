"""Reading patient records: search and the chart, each in a fixed number of queries."""

import re
import sys
from collections.abc import Callable
from datetime import date, datetime

from django.db import connections
from django.db.models import Q, QuerySet

from kapstone.clinical import treatment_history as th
from kapstone.clinical.demographics import looks_like_record_number, normalise_name
from kapstone.core.models import Organization, Site
from kapstone.core.prepared import Prepared, Reads, build_instances, run_written
from kapstone.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    MedicationStatement,
    MedicationTrial,
    Patient,
    PatientContact,
    PsychotherapyCourse,
)

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y")


def parse_search_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def search(query: str) -> QuerySet[Patient]:
    """Find patients by record number, date of birth, or the start of any of their names.

    Several words narrow the search: 'ann smi' finds Ann Smith but not Ann Jones.
    """
    patients = Patient.objects.select_related("home_site")
    text = (query or "").strip()
    if not text:
        return patients
    if looks_like_record_number(text):
        return patients.filter(record_number=text.upper())
    if (dob := parse_search_date(text)) is not None:
        return patients.filter(date_of_birth=dob)
    for word in _words(text):
        patients = patients.filter(
            _starts_with("last_name_norm", word)
            | _starts_with("first_name_norm", word)
            | _starts_with("preferred_name_norm", word)
        )
    return patients


def _starts_with(field: str, word: str) -> Q:
    """`field` starts with `word`, in a form the field's index can answer.

    LIKE 'word%' alone reads every patient on both databases: SQLite's LIKE ignores case, so
    its plain indexes do not apply, and PostgreSQL uses an index for LIKE only under the C
    collation. In code-point order (SQLite's, and PostgreSQL's C and C.UTF-8 collations) every
    string that starts with `word` lies between `word` and `word` with its last character
    moved on by one; that range goes through the index, and the LIKE keeps the meaning exact.
    """
    bounds = {f"{field}__gte": word, f"{field}__startswith": word}
    if (bound := _following(word)) is not None:
        bounds[f"{field}__lt"] = bound
    return Q(**bounds)


def _following(word: str) -> str | None:
    """The first string after every string that starts with `word`, in code-point order
    (None past the last code point)."""
    following = ord(word[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored; skip past them
        following = 0xE000
    return word[:-1] + chr(following) if following <= sys.maxunicode else None


SEARCH_PAGE_SIZE = 25
# Patients by id with their home sites: a page of search results, once their ids are known.
_BY_IDS = Prepared(
    lambda *ids: Patient.objects.select_related("home_site").filter(pk__in=ids).order_by(),
    arity=SEARCH_PAGE_SIZE,
)


class SearchResults:
    """What ``search(query)`` finds, a page at a time, for a Paginator.

    The same patients in the same order as ``search(query)``, read in two queries per page:
    the page's ids with the number of matches beside them (a window count), then those
    patients with their home sites. Sorting the matches then moves ids, not whole rows (on a
    common surname that sort was most of the search's time), and the SQL is written once per
    shape of search rather than built by the ORM on every keystroke.

    ``page`` is the page the request asks for: its ids are read with the count, so that
    showing it takes no third query.
    """

    ordered = True

    def __init__(self, query: str, page=None, per_page: int = SEARCH_PAGE_SIZE):
        self._text = (query or "").strip()
        try:
            number = max(int(page), 1)
        except (TypeError, ValueError):
            number = 1
        self._ahead = ((number - 1) * per_page, per_page)
        self._read_ahead: list[Patient] | None = None
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            offset, limit = self._ahead
            patients, total = _search_page(self._text, offset, limit)
            if total is None:
                # No match on the page asked for: count them on their own.
                total = _search_count(self._text)
            else:
                self._read_ahead = patients
            self._count = total
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item: slice) -> list[Patient]:
        if not isinstance(item, slice) or item.step is not None:
            raise TypeError("read search results a page at a time")
        start = item.start or 0
        limit = max((item.stop if item.stop is not None else start) - start, 0)
        if self._read_ahead is not None and start == self._ahead[0] and limit <= self._ahead[1]:
            # The page read with the count (the Paginator cuts the last page at the count).
            return self._read_ahead[:limit]
        ids, _ = _search_ids(self._text, start, limit)
        found = {}
        for first in range(0, len(ids), SEARCH_PAGE_SIZE):
            chunk = ids[first : first + SEARCH_PAGE_SIZE]
            # Unused places take an id no row has.
            padded = chunk + [0] * (SEARCH_PAGE_SIZE - len(chunk))
            found.update((p.pk, p) for p in _patients_with_sites(_BY_IDS.rows(*padded)))
        return [found[pk] for pk in ids if pk in found]


_NAME_FIELDS = ("last_name_norm", "first_name_norm", "preferred_name_norm")


def _search_condition(connection, text: str) -> tuple[str, list]:
    """The WHERE clause of ``search(text)``, as SQL and parameters, for the ids query.

    It says what ``search`` says, through the same index ranges (see `_starts_with`), with
    the backend's own LIKE operator and escaping; a test compares the two on both databases.
    """
    column = {f.name: connection.ops.quote_name(f.column) for f in Patient._meta.concrete_fields}
    if not text:
        return "", []
    if looks_like_record_number(text):
        return f"{column['record_number']} = %s", [text.upper()]
    if (dob := parse_search_date(text)) is not None:
        return f"{column['date_of_birth']} = %s", [connection.ops.adapt_datefield_value(dob)]
    like = connection.operators["startswith"] % "%s"
    words, params = [], []
    for word in _words(text):
        either = []
        for field in _NAME_FIELDS:
            tests = [f"{column[field]} >= %s", f"{column[field]} {like}"]
            params += [word, connection.ops.prep_for_like_query(word) + "%"]
            if (bound := _following(word)) is not None:
                tests.append(f"{column[field]} < %s")
                params.append(bound)
            either.append("(" + " AND ".join(tests) + ")")
        words.append("(" + " OR ".join(either) + ")")
    return " AND ".join(words), params


def _search_sql(select: str, text: str, tail: str = "") -> tuple:
    connection = connections[Patient.objects.db]
    where, params = _search_condition(connection, text)
    table = connection.ops.quote_name(Patient._meta.db_table)
    sql = f"SELECT {select} FROM {table}"  # noqa: S608 - names from the model, values bound
    if where:
        sql += f" WHERE {where}"
    return connection, sql + tail, params


def _order_by(connection, table: str = "") -> str:
    """The patients' order (Meta.ordering) in SQL, its columns qualified by ``table`` when
    given."""
    qualify = f"{table}." if table else ""
    terms = []
    for name in Patient._meta.ordering:
        field = (
            Patient._meta.pk
            if name.lstrip("-") == "pk"
            else Patient._meta.get_field(name.lstrip("-"))
        )
        terms.append(
            qualify
            + connection.ops.quote_name(field.column)
            + (" DESC" if name.startswith("-") else "")
        )
    return ", ".join(terms)


def _search_ids(text: str, offset: int, limit: int) -> tuple[list[int], int | None]:
    """The ids of one page of matches in the search's order, and the number of matches
    (None when the page is past the last match)."""
    connection = connections[Patient.objects.db]
    pk = connection.ops.quote_name(Patient._meta.pk.column)
    tail = f" ORDER BY {_order_by(connection)} LIMIT %s OFFSET %s"
    connection, sql, params = _search_sql(f"{pk}, COUNT(*) OVER ()", text, tail)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        rows = cursor.fetchall()
    return [row[0] for row in rows], (rows[0][1] if rows else None)


def _search_page(text: str, offset: int, limit: int) -> tuple[list[Patient], int | None]:
    """One page of matches as patients with their home sites, in the search's order, and the
    number of matches (None when the page is past the last match), in one query: the page's
    ids and the count are found first (sorting ids, not whole rows), then joined to their
    rows, as ``_search_ids`` and ``_BY_IDS`` would in two."""
    connection = connections[Patient.objects.db]
    select, where, after = _BY_IDS.sql.partition(" WHERE ")
    if not where or " WHERE " in after:
        raise RuntimeError("unexpected shape of the patients-by-id query")
    pk = connection.ops.quote_name(Patient._meta.pk.column)
    table = connection.ops.quote_name(Patient._meta.db_table)
    page = connection.ops.quote_name("kapstone_page")
    tail = f" ORDER BY {_order_by(connection)} LIMIT %s OFFSET %s"
    _, ids_sql, params = _search_sql(f"{pk}, COUNT(*) OVER () AS total", text, tail)
    columns, _from, rest = select.partition(" FROM ")
    sql = (
        f"WITH {page} AS ({ids_sql}) {columns}, {page}.total FROM {rest} "
        f"INNER JOIN {page} ON {page}.{pk} = {table}.{pk} "
        f"ORDER BY {_order_by(connection, table)}"
    )
    if len(_words(text)) <= _PREPARED_WORDS:
        # One of a few shapes (by number of words), planned once per connection.
        rows = run_written(sql, [*params, limit, offset], like=_BY_IDS)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit, offset])
            rows = _BY_IDS.converted(cursor.fetchall())
    if not rows:
        return [], None
    return _patients_with_sites([row[:-1] for row in rows]), rows[0][-1]


# Searches of up to this many words run as prepared statements: a name, first and last, with
# room to spare; longer ones, rare, are planned each time rather than kept on the server.
_PREPARED_WORDS = 4


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", normalise_name(text)) if word]


def _search_count(text: str) -> int:
    connection, sql, params = _search_sql("COUNT(*)", text)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# The chart: the patient (with the home site) and each kind of history, one query each. The
# SQL is the ORM's, compiled once per thread (kapstone.core.prepared): building it again for
# every chart cost more than running it.
_PATIENT = Prepared(lambda pk: Patient.objects.select_related("home_site").filter(pk=pk))
RECENT_MEASUREMENTS = 20
_RECENT = Prepared(
    lambda patient_id: BodyMeasurement.objects.filter(patient_id=patient_id).order_by(
        "-measured_at", "-pk"
    )[:RECENT_MEASUREMENTS]
)
# Each reverse relation the chart shows, read in the related model's own order
# (Meta.ordering), as `patient.<name>.all()` would.
_HISTORY = {
    name: Prepared(lambda patient_id, model=model: model.objects.filter(patient_id=patient_id))
    for name, model in (
        ("contacts", PatientContact),
        ("allergies", Allergy),
        ("medications", MedicationStatement),
        ("diagnoses", Diagnosis),
        ("medication_trials", MedicationTrial),
        ("psychotherapy_courses", PsychotherapyCourse),
    )
}
_PATIENT_WIDTH = len(Patient._meta.concrete_fields)
_HOME_SITE = Patient._meta.get_field("home_site")


def chart(patient_id: int) -> Patient:
    """The patient with everything the chart shows, in eight queries whatever its size (one
    round trip on PostgreSQL).

    `patient.contacts.all()` and the other history relations answer from what was read here,
    as after prefetch_related; `patient.recent_measurements` holds the latest 20
    measurements, newest first. Raises Patient.DoesNotExist.
    """
    return chart_read(Reads(), patient_id)()


def chart_read(reads: Reads, patient_id: int) -> Callable[[], Patient]:
    """Add the chart's queries to ``reads``; the returned function builds the patient from
    their rows (as ``chart`` does) once they are read with the page's other queries."""
    patient_read = reads.add(_PATIENT, patient_id)
    recent_read = reads.add(_RECENT, patient_id)
    history_reads = {name: reads.add(prepared, patient_id) for name, prepared in _HISTORY.items()}

    def build() -> Patient:
        found = _patients_with_sites(patient_read.rows())
        if not found:
            raise Patient.DoesNotExist("no such patient")
        patient = found[0]
        patient.recent_measurements = _with_patient(
            patient, "measurements", recent_read.instances()
        )
        cache = getattr(patient, "_prefetched_objects_cache", None)
        if cache is None:
            cache = patient._prefetched_objects_cache = {}
        for name, read in history_reads.items():
            manager = getattr(patient, name)
            # The related manager's own queryset (filtered to this patient, so anything
            # chained on it still reads this patient's rows only), with its results in hand.
            queryset = manager.get_queryset()
            queryset._result_cache = _with_patient(patient, name, read.instances())
            queryset._prefetch_done = True
            cache[name] = queryset
        return patient

    return build


def _patients_with_sites(rows) -> list[Patient]:
    """Patients from rows of a select_related("home_site") query; patients of the same site
    share its instance, as after prefetch_related."""
    alias = Patient.objects.db
    patients = build_instances(Patient, [row[:_PATIENT_WIDTH] for row in rows], alias)
    site_rows = {row[_PATIENT_WIDTH]: row[_PATIENT_WIDTH:] for row in rows}
    site_rows.pop(None, None)
    sites = dict(
        zip(site_rows, build_instances(Site, list(site_rows.values()), alias), strict=True)
    )
    for patient, row in zip(patients, rows, strict=True):
        _HOME_SITE.set_cached_value(patient, sites.get(row[_PATIENT_WIDTH]))
    return patients


def _with_patient(patient: Patient, name: str, rows: list) -> list:
    """Point each row back at the patient, as prefetch_related does."""
    field = getattr(Patient, name).field
    for row in rows:
        field.set_cached_value(row, patient)
    return rows


_ORGANIZATION = Prepared(lambda: Organization.objects.order_by("pk")[:1], arity=0)


def organization() -> Organization:
    """The clinic (Organization.current()), read with a prepared query: the chart needs its
    settings on every view."""
    return organization_read(Reads())()


def organization_read(reads: Reads) -> Callable[[], Organization]:
    """``organization`` read with a page's other queries."""
    read = reads.add(_ORGANIZATION)

    def build() -> Organization:
        found = read.instances()
        return found[0] if found else Organization.current()

    return build


def latest(measurements, field: str):
    return next((m for m in measurements if getattr(m, field) is not None), None)


def resistance_summary(patient: Patient, config) -> th.ResistanceSummary:
    rules = th.ResistanceRules.from_config(config.treatment_resistance)
    trials = [
        th.MedicationTrial(
            drug=t.drug,
            drug_class=t.drug_class,
            weeks=t.weeks,
            adequate_dose=t.adequate_dose,
            response=th.Response(t.response),
        )
        for t in patient.medication_trials.all()
    ]
    courses = [
        th.PsychotherapyCourse(
            modality=c.modality, sessions=c.sessions, response=th.Response(c.response)
        )
        for c in patient.psychotherapy_courses.all()
    ]
    return th.summarise(trials, courses, rules)
