from django.db import models


class AuditEvent(models.Model):
    """One thing someone did with the clinic's data: append-only, hash-chained.

    No foreign keys: an event must outlive whatever it names, and must never block a delete
    elsewhere. Details hold field names and ids, never values, because values may be
    patient data and the trail is read by people who do not treat the patient.
    """

    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_roles = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=40, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    ip_address = models.CharField(max_length=45, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seq_positive"),
        ]


class AuditChainHead(models.Model):
    """The last event's sequence number and hash; the row every writer locks to append."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
