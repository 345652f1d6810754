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

import threading
from collections.abc import Callable, Sequence

from django.db import connections
from django.db.models import Model, QuerySet

# Stand-ins for the parameters, one per position; far outside any id or count in use.
MARKERS = tuple(-(2**62) + i for i in range(32))


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
        bound = [read.prepared._bound(read.values) for read in pending]
        with connection.cursor() as cursor:
            # The driver's own client-side binding (psycopg's ClientCursor, Django's default).
            mogrify = getattr(cursor.cursor, "mogrify", None)
            if mogrify is None:
                for read in pending:
                    read._rows = read.prepared.rows(*read.values)
                return
            cursor.execute("; ".join(mogrify(compiled.sql, params) for compiled, params in bound))
            for position, (read, (compiled, _)) in enumerate(zip(pending, bound, strict=True)):
                if position and not cursor.nextset():
                    raise RuntimeError("the server answered fewer queries than it was sent")
                read._rows = _converted(compiled, cursor.fetchall())


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
    width = len(model._meta.concrete_fields)
    instances = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{model.__name__} rows have {width} columns, not {len(row)}")
        instances.append(model.from_db(alias, None, row))
    return instances
