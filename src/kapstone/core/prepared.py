"""Queries the ORM writes once and the hot pages run many times.

Building a queryset's SQL (resolving lookups, joins, ordering, converters) costs several
times more Python than running it: on the chart that was half of a request's CPU. A
``Prepared`` query is declared as an ordinary queryset; its SQL and its result converters are
worked out on first use, once per thread and database connection, and each later run only
binds new parameter values. The SQL is the ORM's own, so it follows model changes (fields,
``Meta.ordering``) and each database's dialect, and values come back converted exactly as
the ORM converts them (datetimes, decimals, booleans on SQLite).

Parameters are passed to the queryset builder as markers, values no caller uses
(:data:`MARKERS`), and are found again among the compiled SQL's parameters by value (a text
field receives a marker as its text). Only plain values (numbers, text) can be parameters;
compare anything else (a time, say) in Python after the query.
"""

import hashlib
import inspect
import itertools
import re
import threading
import weakref
from collections.abc import Callable, Sequence

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init

# Stand-ins for the parameters, one per position; far outside any id or count in use.
MARKERS = tuple(-(2**62) + i for i in range(32))

_names = itertools.count(1)


class _Compiled:
    __slots__ = ("connection", "converters", "params", "slots", "sql", "width")

    def __init__(self, queryset: QuerySet, alias: str, arity: int):
        connection = connections[alias]
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        slots = []
        for marker in MARKERS[:arity]:
            found = [i for i, value in enumerate(params) if value in (marker, str(marker))]
            if len(found) != 1:
                raise ValueError("each parameter must appear exactly once in the query")
            slots.append(found[0])
        self.sql = sql
        self.params = params
        self.slots = slots
        self.converters = list(
            compiler.get_converters([expression for expression, _, _ in compiler.select]).items()
        )
        self.connection = connection
        self.width = len(compiler.select)


class Prepared:
    """A queryset whose SQL is compiled once; ``rows(*values)`` runs it with new values.

    ``build`` receives one marker per parameter and returns the queryset, for example
    ``Prepared(lambda patient_id: Allergy.objects.filter(patient_id=patient_id))``.
    """

    def __init__(self, build: Callable[..., QuerySet], arity: int = 1, using: str = "default"):
        self._build = build
        self._arity = arity
        self._using = using
        self._local = threading.local()
        self.model = None
        # Its name as a server-side prepared statement on PostgreSQL (see _on_server).
        self.name = f"kapstone_{next(_names)}"

    def _compiled(self) -> _Compiled:
        compiled = getattr(self._local, "compiled", None)
        # A thread keeps its connection object for its whole life, but tests may swap it.
        if compiled is None or compiled.connection is not connections[self._using]:
            queryset = self._build(*MARKERS[: self._arity])
            self.model = queryset.model
            compiled = _Compiled(queryset, self._using, self._arity)
            self._local.compiled = compiled
        return compiled

    def rows(self, *values) -> list[list]:
        compiled, params = self._bound(values)
        if compiled.connection.vendor == "postgresql":
            return _on_server(compiled.connection, [(self, compiled, params)])[0]
        with compiled.connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            return _converted(compiled, cursor.fetchall())

    @property
    def sql(self) -> str:
        """The compiled SQL, for a statement built around it."""
        return self._compiled().sql

    def converted(self, rows) -> list[list]:
        """Rows that begin with this query's columns, converted as ``rows`` converts them
        (columns after those are left as they are)."""
        return _converted(self._compiled(), rows)

    def _bound(self, values: Sequence) -> tuple[_Compiled, list]:
        if len(values) != self._arity:
            raise TypeError(f"expected {self._arity} values, got {len(values)}")
        compiled = self._compiled()
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, values, strict=True):
            params[slot] = value
        return compiled, params

    def instances(self, *values, model: type[Model] | None = None) -> list[Model]:
        """The rows as model instances (the queryset must select its model's fields only)."""
        rows = self.rows(*values)
        return build_instances(model or self.model, rows, self._using)


def _converted(compiled: _Compiled, rows) -> list[list]:
    if not compiled.converters:
        return [list(row) for row in rows]
    connection = compiled.connection
    converted = []
    for row in rows:
        row = list(row)
        for position, (functions, expression) in compiled.converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        converted.append(row)
    return converted


class Reads:
    """Prepared queries a page needs, read together.

    ``add`` returns a :class:`Read`; the first time any of them is asked for its rows, every
    read added so far runs. On PostgreSQL they go to the server as one text and come back as
    one answer, their results read in turn: the driver binds values on the client
    (Django's default cursor), so each statement is complete on its own. One round trip
    instead of one per query costs the web server and the database a fraction of the CPU,
    which on the chart was most of it. Elsewhere (SQLite, in process) they run one by one.
    """

    def __init__(self, using: str = "default"):
        self._using = using
        self._pending: list[Read] = []

    def add(self, prepared: Prepared, *values) -> "Read":
        if prepared._using != self._using:
            raise ValueError("reads run together must use the same database")
        read = Read(self, prepared, values)
        self._pending.append(read)
        return read

    def run(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        connection = connections[self._using]
        if len(pending) == 1 or connection.vendor != "postgresql":
            for read in pending:
                read._rows = read.prepared.rows(*read.values)
            return
        items = [(read.prepared, *read.prepared._bound(read.values)) for read in pending]
        for read, rows in zip(pending, _on_server(connection, items), strict=True):
            read._rows = rows


class _Written:
    """SQL written by hand, shaped like a compiled Prepared for _on_server."""

    __slots__ = ("connection", "converters", "name", "sql")

    def __init__(self, connection, sql: str, like: Prepared | None):
        self.connection = connection
        self.sql = sql
        self.converters = like._compiled().converters if like is not None else []
        self.name = "kapstone_w_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()


def run_written(sql: str, params: list, *, like: Prepared | None = None, using="default"):
    """Rows of SQL written by hand (its shape fixed, its values in ``params``), converted as
    ``like``'s columns are when given (columns after those left as they are).

    On PostgreSQL it runs as a server-side prepared statement named after its text, like a
    Prepared query (see _on_server): use it for a handful of shapes run on every page, such
    as the patient search's, not for text that varies without bound.
    """
    connection = connections[using]
    written = _Written(connection, sql, like)
    if connection.vendor == "postgresql":
        return _on_server(connection, [(written, written, params)])[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _converted(written, cursor.fetchall())


# Server-side prepared statements on PostgreSQL, by driver connection: the names prepared on
# it, or None when that is unknown (after an error), and all are dropped and prepared again.
_prepared_on: "weakref.WeakKeyDictionary[object, set[str] | None]" = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%%|%s")


def _numbered(sql: str) -> str:
    """Django's %s placeholders as PREPARE's $1, $2, ... (and %% as %)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)


def _on_server(connection, items: list[tuple["Prepared", _Compiled, list]]) -> list[list[list]]:
    """Run prepared queries on PostgreSQL in one round trip, as statements prepared on the
    server: each is planned once per connection (PREPARE, sent with its first EXECUTE)
    instead of on every run. Planning was the larger part of the database's work on the
    chart (the patient query took 0.23 ms to plan and 0.04 ms to run, measured with
    pg_stat_statements). The text is sent with the simple query protocol, values bound by
    the driver, so it stays one message however many statements it holds.

    Prepared statements outlive transactions, rolled back or not; after any error the
    connection's are dropped (DEALLOCATE ALL) and prepared again, as their state is then
    unknown.
    """
    with connection.cursor() as cursor:
        raw = cursor.cursor
        mogrify = raw.mogrify
        driver_connection = raw.connection
        known = _prepared_on.get(driver_connection, set())
        setup = []
        if known is None:
            setup.append("DEALLOCATE ALL")
            known = set()
        preparing = {}
        executes = []
        for prepared, compiled, params in items:
            if prepared.name not in known and prepared.name not in preparing:
                preparing[prepared.name] = f"PREPARE {prepared.name} AS {_numbered(compiled.sql)}"
            execute = f"EXECUTE {prepared.name}"
            if params and all(type(value) is int for value in params):
                # Whole numbers (a patient's id, most often) written as the driver writes
                # them, without its quoting machinery: a few microseconds a statement.
                execute += "(" + ", ".join(map(str, params)) + ")"
            elif params:
                execute += mogrify("(" + ", ".join(["%s"] * len(params)) + ")", params)
            executes.append(execute)
        setup += preparing.values()
        _prepared_on[driver_connection] = None
        cursor.execute("; ".join(setup + executes))
        _prepared_on[driver_connection] = known | preparing.keys()
        # The answers come in order: the setup's (no rows), then each EXECUTE's.
        for _ in range(len(setup)):
            _next_answer(cursor)
        results = []
        for position, (_, compiled, _) in enumerate(items):
            if position:
                _next_answer(cursor)
            results.append(_converted(compiled, cursor.fetchall()))
        return results


def _next_answer(cursor) -> None:
    if not cursor.nextset():
        raise RuntimeError("the server answered fewer statements than it was sent")


class Read:
    """One query's place in a :class:`Reads`: its rows once they have been read."""

    __slots__ = ("_reads", "_rows", "prepared", "values")

    def __init__(self, reads: Reads, prepared: Prepared, values: tuple):
        self._reads = reads
        self.prepared = prepared
        self.values = values
        self._rows: list[list] | None = None

    def rows(self) -> list[list]:
        if self._rows is None:
            self._reads.run()
        return self._rows

    def instances(self, model: type[Model] | None = None) -> list[Model]:
        rows = self.rows()
        return build_instances(model or self.prepared.model, rows, self.prepared._using)


def build_instances(model: type[Model], rows: Sequence[Sequence], alias: str) -> list[Model]:
    """Instances from rows of all the model's concrete fields, as ``model.from_db`` makes them.

    Django's ``Model.__init__`` sets each field through ``setattr`` and sends its init
    signals; for a plain model (no init signals listened to, no field whose attribute does
    its own work on assignment) that comes to filling the instance's ``__dict__``, which is
    what this does at a third of the cost: a page of 25 patients with their sites took
    0.37 ms to build. Any other model goes through ``from_db``.
    """
    width = len(model._meta.concrete_fields)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{model.__name__} rows have {width} columns, not {len(row)}")
    attnames = _plain_attnames(model)
    if attnames is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return [model.from_db(alias, None, row) for row in rows]
    new = object.__new__
    instances = []
    for row in rows:
        instance = new(model)
        instance.__dict__.update(zip(attnames, row, strict=False))  # widths checked above
        state = instance._state = ModelState()
        state.adding = False
        state.db = alias
        instances.append(instance)
    return instances


_plain: dict[type[Model], tuple[str, ...] | None] = {}


def _plain_attnames(model: type[Model]) -> tuple[str, ...] | None:
    """The model's concrete fields' attribute names when filling ``__dict__`` makes the same
    instance as ``from_db``; None when it might not."""
    if model in _plain:
        return _plain[model]
    attnames = tuple(field.attname for field in model._meta.concrete_fields)
    plain = (
        model.__init__ is Model.__init__
        and getattr(model.from_db, "__func__", None) is Model.from_db.__func__
        and all(_assigns_plainly(model, name) for name in attnames)
    )
    _plain[model] = attnames if plain else None
    return _plain[model]


def _assigns_plainly(model: type[Model], attname: str) -> bool:
    descriptor = inspect.getattr_static(model, attname, None)
    if not hasattr(type(descriptor), "__set__"):
        return True  # a plain attribute, or Django's DeferredAttribute (reading only)
    # A foreign key's id: its __set__ only forgets a related object cached on the
    # instance, and a new instance has none.
    return type(descriptor) is ForeignKeyDeferredAttribute
