"""Start-up checks that catch a deployment the code cannot work correctly on."""

from django.core import checks as django_checks
from django.db import connections

CODE_POINT_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}


@django_checks.register(django_checks.Tags.database)
def postgres_collation(app_configs, databases=None, **kwargs):
    """The patient search reads name indexes by range, which is exact only in code-point order."""
    problems = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
            (collation,) = cursor.fetchone()
        if collation not in CODE_POINT_COLLATIONS:
            problems.append(
                django_checks.Warning(
                    f"database '{alias}' sorts text with collation {collation}",
                    hint="create it with LC_COLLATE 'C.UTF-8' (docs/operations.md): a name "
                    "search could otherwise miss a patient",
                    id="kapstone.W001",
                )
            )
    return problems
