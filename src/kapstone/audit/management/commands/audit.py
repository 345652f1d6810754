from django.core.management.base import BaseCommand, CommandError

from kapstone.audit.recording import verify_chain


class Command(BaseCommand):
    help = "Audit trail tools. `kapstone audit verify` checks the hash chain."

    def add_arguments(self, parser):
        parser.add_argument("task", choices=["verify"])

    def handle(self, *args, task, **options):
        report = verify_chain()
        if not report.intact:
            raise CommandError(
                f"audit trail BROKEN after checking {report.events_checked} events: "
                f"{report.problem}"
            )
        self.stdout.write(f"audit trail intact: {report.events_checked} events")
