"""Orders, refunds and the point lots they create."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OrderStatus(StrEnum):
    # a counter order the store opened, waiting for its consumer to confirm it in the
    # app (vouchers, channel); then `created` like any other
    UNCONFIRMED = "unconfirmed"
    CREATED = "created"
    PAYING = "paying"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CLOSED = "closed"


class OrderOrigin(StrEnum):
    APP = "app"  # the consumer opened it (createOrder)
    COUNTER = "counter"  # the store's POS or staff opened it for a scanned consumer


class Order(Model):
    id = fields.BigIntField(primary_key=True)
    consumer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="orders", on_delete=fields.RESTRICT
    )
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="orders", on_delete=fields.RESTRICT
    )
    consumer_id: int
    merchant_id: int
    idempotency_key = fields.CharField(max_length=64)
    amount_fen = fields.BigIntField()  # A
    voucher_fen = fields.BigIntField(default=0)  # V, paid with vouchers
    cash_fen = fields.BigIntField()  # C = A - V, paid through the channel
    discount_bps = fields.IntField()  # d, frozen at order time
    discount_fen = fields.BigIntField()  # D = round_half_up(A * d)
    channel = fields.CharField(max_length=24)
    status = fields.CharEnumField(OrderStatus, max_length=20, default=OrderStatus.CREATED)
    channel_txn_id = fields.CharField(max_length=64, null=True)
    refunded_fen = fields.BigIntField(default=0)  # of A
    policy = fields.CharField(max_length=40)
    # rows from before counter orders existed are the app's (the database's default)
    origin = fields.CharEnumField(
        OrderOrigin, max_length=10, default=OrderOrigin.APP, db_default=OrderOrigin.APP.value
    )
    # A counter order's idempotency: who opened it ("device:3", "user:9") and their
    # key; unique, so the same device and key never open two orders, whoever they are for.
    counter_key = fields.CharField(max_length=100, null=True, unique=True)
    # The settlement as computed at payment (every share, exact), kept so that
    # refunds reverse exactly what was paid, even if the policy changes later.
    settlement: dict | None = fields.JSONField(null=True)
    # What the client needs to pay, as the channel answered; a repeated createOrder
    # returns the same, never a second prepay at the provider.
    pay_params: dict | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)
    settle_on = fields.DateField(null=True)  # lots activate on this day
    settled_at = fields.DatetimeField(null=True)  # pending shares became final
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "orders"
        unique_together = (("consumer", "idempotency_key"), ("channel", "channel_txn_id"))
        indexes = (("merchant_id", "created_at"),)


class OrderReversal(Model):
    """An admin dispute reversal after the settlement window (SPEC 11), at most one per
    order: the order lots stop releasing, released vouchers still unspent are taken
    back, and what was spent already is the platform loss."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "core.Order", related_name="reversal", on_delete=fields.RESTRICT
    )
    order_id: int
    reversal_key = fields.CharField(max_length=64, unique=True)
    reason = fields.CharField(max_length=255)
    by_user_id = fields.BigIntField(null=True)
    lots_cancelled = fields.IntField()
    vouchers_clawed_back_fen = fields.BigIntField()
    shopping_points_clawed_back = fields.BigIntField()
    platform_loss_fen = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "order_reversals"
        unique_together = (("order",),)


class OrderRefund(Model):
    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "core.Order", related_name="refunds", on_delete=fields.RESTRICT
    )
    order_id: int
    amount_fen = fields.BigIntField()
    # The caller's / provider's key (out_refund_no): the same key refunds once.
    refund_key = fields.CharField(max_length=64, unique=True)
    status = fields.CharField(max_length=16, default="done")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "order_refunds"


class HolderKind(StrEnum):
    CONSUMER = "consumer"
    MERCHANT = "merchant"


class LotStatus(StrEnum):
    PENDING = "pending"  # inside the refund window
    ACTIVE = "active"  # in its pool, receiving releases
    EXITED = "exited"  # reached its cap
    EXPIRED = "expired"  # max releases done
    CANCELLED = "cancelled"  # refunded inside the window


class PointLot(Model):
    """Points from one order for one holder, released into vouchers over time."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "core.Order", related_name="lots", null=True, on_delete=fields.RESTRICT
    )
    order_id: int | None
    holder_kind = fields.CharEnumField(HolderKind, max_length=10)
    holder_id = fields.BigIntField()  # user id (consumer) or merchant id
    pool = fields.CharField(max_length=16)  # consumer | merchant
    points = fields.BigIntField()  # P, centi-points, reduced by partial refunds
    status = fields.CharEnumField(LotStatus, max_length=10, default=LotStatus.PENDING)
    activate_on = fields.DateField()
    activated_at = fields.DatetimeField(null=True)
    # f and I_f: the release that first paid this lot and the index then.
    first_release_no = fields.IntField(null=True)
    first_index = fields.DecimalField(max_digits=40, decimal_places=18, null=True)
    released_units = fields.BigIntField(default=0)
    release_count = fields.IntField(default=0)
    # Whoever recruited the merchant of a merchant lot (招商补贴), copied at creation.
    recruiter_user_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "point_lots"
        indexes = (
            ("pool", "status", "id"),
            ("holder_kind", "holder_id"),
            ("status", "activate_on"),
        )
