"""Database triggers that refuse UPDATE and DELETE on the audit trail.

The hash chain detects tampering after the fact; these stop the application (or a slip at a
database prompt) from altering the trail at all. A PostgreSQL deployment should also connect
as a role without UPDATE, DELETE and TRUNCATE on the table (see docs/operations.md).
"""

TABLE = "audit_auditevent"
SHOWN_TABLE = "audit_auditeventpatient"
# Each guarded table and the prefix of its triggers' names.
TABLES = {TABLE: "audit", SHOWN_TABLE: "audit_shown"}


def _sqlite_install(table, prefix):
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {prefix}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {prefix}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    ]


def _sqlite_remove(table, prefix):
    return [
        f"DROP TRIGGER IF EXISTS {prefix}_no_update",
        f"DROP TRIGGER IF EXISTS {prefix}_no_delete",
    ]


_PG_FUNCTION = """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END; $$ LANGUAGE plpgsql"""


def _pg_install(table, prefix):
    return [
        _PG_FUNCTION,
        f"DROP TRIGGER IF EXISTS {prefix}_no_change ON {table}",
        f"""CREATE TRIGGER {prefix}_no_change BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    ]


def _pg_remove(table, prefix):
    return [f"DROP TRIGGER IF EXISTS {prefix}_no_change ON {table}"]


def _run(connection, statements):
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _statements(connection, tables, sqlite, postgresql) -> list[str]:
    build = {"sqlite": sqlite, "postgresql": postgresql}.get(connection.vendor)
    if build is None:
        return []
    return [sql for table in tables for sql in build(table, TABLES[table])]


def install(connection, tables=tuple(TABLES)) -> None:
    _run(connection, _statements(connection, tables, _sqlite_install, _pg_install))


def remove(connection, tables=tuple(TABLES)) -> None:
    """Only for tests that play the attacker, and for the test database's own clean-up."""
    _run(connection, _statements(connection, tables, _sqlite_remove, _pg_remove))
