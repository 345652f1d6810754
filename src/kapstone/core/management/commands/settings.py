from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapstone.clinical import settings_check
from kapstone.core import clinic_settings
from kapstone.core.models import Organization
from kapstone.errors import AccessDenied, InvalidInput, InvalidInputs
from kapstone.staff.models import User


class Command(BaseCommand):
    help = (
        "The clinic's settings (its changes to the shipped defaults), as TOML. "
        "`kapstone settings show` prints them; `kapstone settings check FILE` names every "
        "problem in a file; `kapstone settings apply FILE --by USERNAME --reason TEXT` saves "
        "it as that member of staff, with their permissions."
    )

    def add_arguments(self, parser):
        parser.add_argument("task", choices=["show", "check", "apply"])
        parser.add_argument("file", nargs="?", help="a TOML file of settings (check, apply)")
        parser.add_argument("--by", help="the username the change is made as (apply)")
        parser.add_argument("--reason", help="why the settings change (apply)")

    def handle(self, *args, task, file, by, reason, **options):
        if task == "show":
            self._show()
            return
        if not file:
            raise CommandError(f"settings {task} needs a FILE")
        overrides = self._read(Path(file))
        if task == "check":
            self._report(settings_check.check(overrides))
            self.stdout.write("settings OK")
            return
        if not by:
            raise CommandError("settings apply needs --by USERNAME")
        user = User.objects.filter(username=by, is_active=True).first()
        if user is None:
            raise CommandError("no active member of staff with that username")
        try:
            clinic_settings.update_clinic_settings(by=user, overrides=overrides, reason=reason)
        except AccessDenied as error:
            raise CommandError(str(error)) from None
        except (InvalidInput, InvalidInputs) as error:
            self._report(error.errors if isinstance(error, InvalidInputs) else [error])
        changed = Organization.current().settings_overrides
        self.stdout.write(f"settings saved: {len(changed)} section(s) changed from the defaults")

    def _show(self):
        current = Organization.current().settings_overrides
        if not current:
            self.stdout.write("# No changes: the shipped defaults apply.")
            return
        self.stdout.write(clinic_settings.as_toml(current), ending="")

    def _read(self, path: Path) -> dict:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read the file: {error.__class__.__name__}") from None
        try:
            return clinic_settings.parse_toml(text)
        except InvalidInput as error:
            self._report([error])

    def _report(self, problems: list[InvalidInput]) -> None:
        """Every problem, one a line, then a non-zero exit."""
        if not problems:
            return
        for problem in problems:
            self.stdout.write(f"{problem.field}: {problem.message}")
        raise CommandError(f"{len(problems)} problem(s): nothing was saved")
