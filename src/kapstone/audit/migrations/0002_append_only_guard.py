from django.db import migrations

from kapstone.audit import guard


def install(apps, schema_editor):
    guard.install(schema_editor.connection, tables=[guard.TABLE])


def remove(apps, schema_editor):
    guard.remove(schema_editor.connection, tables=[guard.TABLE])


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
