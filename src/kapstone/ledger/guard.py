"""Database triggers that refuse UPDATE and DELETE on the ledger's records.

Entries, receipts, counts and count lines are written once. The hash chain detects an edit
after the fact (kapstone.ledger.chain); these stop one happening through the application or a
slip at a database prompt. As for the audit trail (kapstone.audit.guard), a PostgreSQL
deployment should also withhold UPDATE, DELETE and TRUNCATE on these tables from the app's role.
"""

TABLES = ("ledger_ledgerentry", "ledger_receipt", "ledger_count", "ledger_countline")
MESSAGE = "the controlled-substance ledger is append-only"


def _sqlite_install() -> list[str]:
    statements = []
    for table in TABLES:
        for event in ("update", "delete"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{event} BEFORE {event.upper()} "
                f"ON {table} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    return statements


def _sqlite_remove() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{event}"
        for table in TABLES
        for event in ("update", "delete")
    ]


def _pg_install() -> list[str]:
    statements = [
        f"""CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"""
    ]
    for table in TABLES:
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION ledger_append_only()""",
        ]
    return statements


def _pg_remove() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}" for table in TABLES]


def _run(connection, statements):
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection) -> None:
    if connection.vendor == "sqlite":
        _run(connection, _sqlite_install())
    elif connection.vendor == "postgresql":
        _run(connection, _pg_install())


def remove(connection) -> None:
    """Only for tests that play the attacker, and for the test database's own clean-up."""
    if connection.vendor == "sqlite":
        _run(connection, _sqlite_remove())
    elif connection.vendor == "postgresql":
        _run(connection, _pg_remove())
