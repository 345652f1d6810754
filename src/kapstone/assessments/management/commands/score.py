"""`kapstone score INSTRUMENT ANSWER...`: score one administration and print it as JSON.

Answers go in item order, as on the paper form: whole numbers; y/n/yes/no/1/0 for yes/no
items; `-` for an item not asked (skip logic) or not answered. `kapstone score --list` lists
the instruments. Nothing is stored.
"""

import json
from argparse import BooleanOptionalAction

from django.core.management.base import BaseCommand, CommandError

from kapstone.clinical import instruments
from kapstone.errors import InvalidInput


class Command(BaseCommand):
    help = "Score an instrument from its answers (in item order) and print the result as JSON."
    # Scoring needs neither the database nor the project checks.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("instrument", nargs="?", help="instrument id (see --list)")
        parser.add_argument(
            "answers",
            nargs="*",
            help="one per item in order: a number, y/n for yes/no items, - if not asked",
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_instruments", help="list the instruments"
        )
        parser.add_argument(
            "--agoraphobia",
            action=BooleanOptionalAction,
            default=None,
            help="PDSS: panic disorder with (or --no-agoraphobia: without) agoraphobia",
        )

    def handle(self, *args, instrument, answers, list_instruments, agoraphobia, **options):
        if list_instruments:
            self._list()
            return
        if instrument is None:
            raise CommandError("name an instrument: kapstone score --list shows them")
        if instrument not in instruments.ids():
            raise CommandError(f"unknown instrument '{instrument}': kapstone score --list")
        inst = instruments.get(instrument)
        context = {} if agoraphobia is None else {"agoraphobia": agoraphobia}
        try:
            result = instruments.score(
                inst, instruments.answers_from_text(inst, answers), context=context
            )
        except InvalidInput as error:
            hint = ""
            if error.field == "agoraphobia":
                hint = " (--agoraphobia or --no-agoraphobia)"
            raise CommandError(f"{inst.short_name} {error.field}: {error.message}{hint}") from None
        self.stdout.write(json.dumps(result.as_dict(), indent=2))

    def _list(self) -> None:
        for inst in instruments.all_instruments():
            if inst.max_total is None:
                scored = "risk level"
            else:
                scored = f"total {inst.total_min}-{inst.total_max}"
            self.stdout.write(
                f"{inst.id:<15} {inst.short_name:<16} {len(inst.items):>2} items, {scored}, "
                f"rated by {inst.rated_by.value}"
                + (", needs --agoraphobia/--no-agoraphobia" if inst.context else "")
            )
