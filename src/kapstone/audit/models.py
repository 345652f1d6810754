from django.db import models


class AuditEventQuerySet(models.QuerySet):
    def naming_patient(self, patient_id: int) -> "AuditEventQuerySet":
        """Events about one patient: those naming them, and reads that showed them among
        others (a list page)."""
        shown = AuditEventPatient.objects.filter(patient_id=patient_id).values("event_id")
        return self.filter(models.Q(patient_id=patient_id) | models.Q(seq__in=shown))


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
    # Indexed for prefix search only (Meta.indexes): the trail page filters by the start of
    # an action ("patient." finds every patient event).
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=40, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    ip_address = models.CharField(max_length=45, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    # Not unique and not indexed: nothing looks an event up by its hash, and the chain
    # already ties each hash to its place (verify_chain). An index of random 64-character
    # keys was the dearest part of every page's append, taken under the chain's lock.
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            # On PostgreSQL the pattern operator class serves both `=` and `LIKE 'x%'`
            # whatever the database's collation; elsewhere it is a plain index.
            models.Index(
                fields=["action"], name="audit_action_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seq_positive"),
        ]


class AuditChainHead(models.Model):
    """The last event's sequence number and hash; the row every writer locks to append.

    ``prev_hash`` is the hash before the last (the last event's link): on PostgreSQL one
    UPDATE moves the head on and hands the new event both its link and its hash.
    """

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64, default="0" * 64)


class AuditEventPatient(models.Model):
    """A patient a read event showed. A list page writes one event for the page, with the
    patients shown listed in its detail (under its hash) and here, one row each, so that
    "who has seen this patient" is one indexed lookup. `verify_chain` checks that these rows
    and the events' lists agree; the same triggers keep this table append-only.
    """

    # No database constraint or index of its own: rows are written only with their event,
    # in its transaction, checked by verify_chain; the unique index below (patient first)
    # serves the lookups by patient. Each list page writes these rows under the chain's
    # lock, so every index costs every page.
    event = models.ForeignKey(
        AuditEvent,
        to_field="seq",
        db_column="event_seq",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="patients_shown",
    )
    patient_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "event"], name="audit_shown_once_per_event"
            ),
        ]
