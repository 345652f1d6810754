"""Create a staff account from the command line: the clinic's first admin, for instance.

The password is read from a prompt, or from standard input with --password-stdin, so it never
appears in the shell's history or the process list."""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from kapstone.access.roles import Role
from kapstone.errors import InvalidInput
from kapstone.staff.actions import create_staff


class Command(BaseCommand):
    help = "Create a staff account (e.g. kapstone createstaff chris --role clinic_admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--role", action="append", required=True, choices=[r.value for r in Role]
        )
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, username, role, first_name, last_name, email, password_stdin, **o):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password again: ") != password:
                raise CommandError("the passwords differ")
        try:
            user = create_staff(
                by=None,
                username=username,
                password=password,
                roles=[Role(r) for r in role],
                first_name=first_name,
                last_name=last_name,
                email=email,
            )
        except InvalidInput as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"created {user.username} ({user.role_labels})")
