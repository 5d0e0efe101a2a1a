"""Partner webhooks (合作方回调): what an app subscribed to, each event owed to each
subscription (a delivery, its id the `Webhook-Id`), every attempt at it, and the keys
deliveries are signed with (app/domain/webhooks.py, app/services/webhooks.py)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

WEBHOOK_URL_MAX = 2048


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"  # a delivery ran out of its retries since the last success
    DISABLED = "disabled"  # failing for too long, or paused: nothing new is delivered


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # owed: due at next_attempt_at
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the schedule ran out, the receiver answered 410, or stopped


class WebhookSubscription(Model):
    """A partner app's receiver URL and the event kinds it wants."""

    id = fields.BigIntField(primary_key=True)
    app: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.PartnerApp", related_name="webhook_subscriptions", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=WEBHOOK_URL_MAX)
    events: list[str] = fields.JSONField(default=list)
    status = fields.CharEnumField(SubscriptionStatus, default=SubscriptionStatus.ACTIVE)
    # deliveries that ran out of retries since the last delivered one
    consecutive_failures = fields.IntField(default=0)
    failing_since = fields.DatetimeField(null=True)
    last_delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_subscriptions"
        unique_together = (("app", "url"),)


class WebhookDelivery(Model):
    """One event owed to one subscription; its `webhook_id` is the `Webhook-Id`, the same
    on every attempt. The body is fixed when the row is made, so each retry sends the same
    bytes."""

    id = fields.BigIntField(primary_key=True)
    webhook_id = fields.UUIDField(unique=True)
    subscription: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.WebhookSubscription", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id = fields.UUIDField()
    event_kind = fields.CharField(max_length=64)
    body = fields.TextField()
    status = fields.CharEnumField(DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # a worker holds the delivery while it sends it; a worker that dies lets it lapse
    lease_until = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=200, null=True)
    event_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("subscription", "event_id"),)
        indexes = [Index(fields=["status", "next_attempt_at"])]


class WebhookAttempt(Model):
    """One POST of a delivery: when, how long, what came back (a status code, or the
    class of the error), and a short excerpt of the receiver's answer."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    started_at = fields.DatetimeField()
    duration_ms = fields.IntField()
    status_code = fields.IntField(null=True)
    error = fields.CharField(max_length=100, null=True)
    response_excerpt = fields.CharField(max_length=200, null=True)
    kid = fields.CharField(max_length=64)

    class Meta:
        table = "webhook_attempts"
        indexes = [Index(fields=["delivery_id", "number"])]


class WebhookSigningKey(Model):
    """A platform key deliveries are signed with. The newest not retired signs; retired
    keys stay published in the JWKS until `unpublish_at`. The private key is kept
    encrypted (Fernet, under a key derived from the settings' secret)."""

    kid = fields.CharField(max_length=64, primary_key=True)
    alg = fields.CharField(max_length=16)
    private_key = fields.TextField()
    public_jwk: dict = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)
    unpublish_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_signing_keys"
