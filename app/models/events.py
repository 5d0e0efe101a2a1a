"""The outbox: what happened, written in the transaction (or statement) that made it
happen, and which consumer has been told of it (`app/infra/outbox/`)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxEvent(Model):
    """One event (`order.paid`, ...). Undone until every consumer of its kind has it."""

    id = fields.UUIDField(primary_key=True)  # made by the writer: no read-back needed
    kind = fields.CharField(max_length=64)
    subject = fields.CharField(max_length=64)  # what it is about: `order:42`
    payload: dict = fields.JSONField()
    created_at = fields.DatetimeField()
    # When the worker's sweep may deliver it: after the in-process attempt had its
    # chance, then later after each failed attempt.
    due_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_events"


class OutboxDelivery(Model):
    """A consumer has been given an event that is not done (its other consumers not
    all): a later delivery skips it."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[OutboxEvent] = fields.ForeignKeyField(
        "events.OutboxEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    consumer = fields.CharField(max_length=64)
    delivered_at = fields.DatetimeField()

    class Meta:
        table = "outbox_deliveries"
        unique_together = (("event_id", "consumer"),)
