from django.core.management.base import BaseCommand, CommandError

from kapstone.staff.actions import issue_api_token
from kapstone.staff.models import User


class Command(BaseCommand):
    help = "Issue an API token for a user (printed once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="api")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username}")
        self.stdout.write(issue_api_token(by=None, user=user, name=name))
