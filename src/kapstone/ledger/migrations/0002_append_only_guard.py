from django.db import migrations

from kapstone.ledger import guard


def install(apps, schema_editor):
    guard.install(schema_editor.connection)
    head = apps.get_model("ledger", "LedgerChainHead")
    head.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


def remove(apps, schema_editor):
    guard.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
