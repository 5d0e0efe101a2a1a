"""Payment channels: per-merchant routing, payments at a channel, raw notifications,
channel refunds and split (分账) orders."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class PaymentStatus(StrEnum):
    PENDING = "pending"  # created at the channel (or being created), not paid yet
    FAILED = "failed"  # the channel refused to create it
    PAID = "paid"
    CLOSED = "closed"
    # paid at the channel after its order stopped taking money: refunded whole
    STRAY = "stray"


class SplitStatus(StrEnum):
    NONE = "none"  # nothing to split (no platform share) or not paid yet
    PENDING = "pending"  # paid, split not yet requested at the channel
    PROCESSING = "processing"
    FINISHED = "finished"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"  # recorded, not (yet) accepted by the channel
    PROCESSING = "processing"  # accepted, waiting for the result
    SUCCESS = "success"
    FAILED = "failed"


class MerchantChannel(Model):
    """A channel a merchant can be paid through, in priority order (lower first)."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="payment_channels", on_delete=fields.CASCADE
    )
    merchant_id: int
    channel = fields.CharField(max_length=24)
    priority = fields.IntField(default=100)
    enabled = fields.BooleanField(default=True)
    # The merchant at the provider: WeChat sub_mchid, Alipay seller id, aggregator mch no.
    provider_merchant_id = fields.CharField(max_length=64, default="")
    # Whether the platform is already registered as split receiver for this merchant.
    split_receiver_ready = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payment_merchant_channels"
        unique_together = (("merchant", "channel"),)


class ChannelState(Model):
    """An admin decision about a whole channel (live or down), with who and why."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=24, unique=True)
    live = fields.BooleanField(default=True)
    reason = fields.CharField(max_length=255, default="")
    changed_by_user_id = fields.BigIntField(null=True)
    changed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payment_channel_states"


# A merchant's channels (`MerchantChannel`, kind 0) and every channel's admin state
# (`ChannelState`, kind 1) as one table, in one round trip; its one parameter is the
# merchant's id. Routing reads it alone, an order's creation joins it to its facts; the
# order, by kind, priority and id, goes outside.
CHANNEL_TABLE = (
    "SELECT 0 AS kind, channel, enabled AS flag, provider_merchant_id AS text, priority, id "
    "FROM payment_merchant_channels WHERE merchant_id = ? "
    "UNION ALL SELECT 1, channel, live, reason, 0, id FROM payment_channel_states"
)


class Payment(Model):
    """One order paid through one channel: what we asked for and what the channel said."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Order", related_name="payments", on_delete=fields.RESTRICT
    )
    order_id: int
    channel = fields.CharField(max_length=24)
    out_trade_no = fields.CharField(max_length=64, unique=True)
    amount_fen = fields.BigIntField()  # cash C asked at the channel
    merchant_fen = fields.BigIntField()  # split plan: the merchant share
    platform_fen = fields.BigIntField()  # split plan: the platform share, min(D, C)
    provider_merchant_id = fields.CharField(max_length=64, default="")
    status = fields.CharEnumField(PaymentStatus, max_length=10, default=PaymentStatus.PENDING)
    error_code = fields.CharField(max_length=64, default="")
    channel_txn_id = fields.CharField(max_length=64, null=True)
    pay_params: fields.Field[Any] = fields.JSONField(null=True)
    split_status = fields.CharEnumField(SplitStatus, max_length=12, default=SplitStatus.NONE)
    split_out_no = fields.CharField(max_length=64, null=True)
    split_channel_id = fields.CharField(max_length=64, null=True)
    split_returned_fen = fields.BigIntField(default=0)
    split_attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payments"
        indexes = (("status", "created_at"), ("split_status", "updated_at"))


# Channel refund keys the platform makes itself (a stray payment's refund); a client's
# refund key may not start with it.
STRAY_REFUND_PREFIX = "stray-"


class ChannelRefund(Model):
    """The channel side of an order refund, keyed by the refund key (out_refund_no)."""

    id = fields.BigIntField(primary_key=True)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "payments.Payment", related_name="refunds", on_delete=fields.RESTRICT
    )
    payment_id: int
    refund_key = fields.CharField(max_length=64, unique=True)
    amount_fen = fields.BigIntField()
    split_return_fen = fields.BigIntField(default=0)  # taken back from the platform first
    split_return_done = fields.BooleanField(default=False)
    status = fields.CharEnumField(RefundStatus, max_length=12, default=RefundStatus.PENDING)
    channel_refund_id = fields.CharField(max_length=64, null=True)
    error_code = fields.CharField(max_length=64, default="")
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_refunds"
        indexes = (("status", "created_at"),)


class PaymentNotification(Model):
    """Every notification a channel sent us, raw, whatever became of it."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=24)
    received_at = fields.DatetimeField(auto_now_add=True)
    headers: fields.Field[Any] = fields.JSONField()
    body = fields.TextField()
    verified = fields.BooleanField(default=False)
    kind = fields.CharField(max_length=16, default="")  # payment | refund
    outcome = fields.CharField(max_length=16, default="received")
    reason = fields.CharField(max_length=255, default="")
    out_trade_no = fields.CharField(max_length=64, null=True)
    ref = fields.CharField(max_length=64, null=True)  # channel txn id or refund key
    order_id = fields.BigIntField(null=True)

    class Meta:
        table = "payment_notifications"
        indexes = (("channel", "received_at"), ("out_trade_no",))
