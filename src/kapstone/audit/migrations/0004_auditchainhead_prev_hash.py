from django.db import migrations, models


def fill(apps, schema_editor):
    """The head's new column holds the last event's link, for a trail already written."""
    head_model = apps.get_model("audit", "AuditChainHead")
    event_model = apps.get_model("audit", "AuditEvent")
    for head in head_model.objects.using(schema_editor.connection.alias).filter(seq__gt=0):
        last = event_model.objects.using(schema_editor.connection.alias).filter(seq=head.seq)
        link = last.values_list("prev_hash", flat=True).first()
        if link is not None:
            head.prev_hash = link
            head.save(update_fields=["prev_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_patients_shown"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="prev_hash",
            field=models.CharField(default="0" * 64, max_length=64),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
