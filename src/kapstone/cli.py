"""The `kapstone` command: Django's management commands under the clinic's name.

kapstone serve            run the web app (127.0.0.1:8000) and the background worker
kapstone worker           run the background worker alone (e-mails, scheduled check-ins)
kapstone demo             build the demo clinic and print its log-ins
kapstone audit verify     check the audit trail's hash chain
kapstone settings show    the clinic's changes to the shipped defaults (check, apply: change them)
kapstone mllp             receive bedside-monitor vital signs (HL7 v2 over MLLP)
kapstone migrate          create or update the database
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kapstone", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    main()
