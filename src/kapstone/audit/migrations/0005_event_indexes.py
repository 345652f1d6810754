"""The event table drops its two hash indexes and keeps one index on action, for prefix search.

Nothing looks an event up by its hash, and every page's append paid for a unique index of
random 64-character keys while it held the chain's lock. SQLite rebuilds the table to change
the unique constraint either way, which drops its triggers with it: the append-only guard is
installed again after the rebuild, forwards and backwards.
"""

from django.db import migrations, models

from kapstone.audit import guard


def install_guard(apps, schema_editor):
    guard.install(schema_editor.connection, tables=[guard.TABLE])


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_auditchainhead_prev_hash")]

    operations = [
        # Run last when the migration is reversed, after that rebuild.
        migrations.RunPython(migrations.RunPython.noop, install_guard),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=60),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["action"], name="audit_action_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ),
        migrations.RunPython(install_guard, migrations.RunPython.noop),
    ]
