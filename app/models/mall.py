"""The mall (SPEC §14.1): items priced in gold coins or shopping points, and redemptions."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from app.models.ledger import Asset


class MallItem(Model):
    """An item of the catalogue an admin manages. `stock` is what can still be redeemed:
    a redemption takes from it when it is made and a void gives it back."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100)
    description = fields.CharField(max_length=500, default="")
    asset = fields.CharEnumField(Asset, max_length=16)
    price = fields.BigIntField()  # centi-units of `asset`, per item
    stock = fields.IntField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mall_items"
        indexes = (("asset", "active"),)


class RedemptionStatus(StrEnum):
    HELD = "held"  # the asset is held and the stock taken; awaiting the operator
    FULFILLED = "fulfilled"  # handed over: the asset is spent
    VOIDED = "voided"  # called off: the asset and the stock went back


class MallRedemption(Model):
    """One consumer's redemption of an item, once per (consumer, idempotency key)."""

    id = fields.BigIntField(primary_key=True)
    consumer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="redemptions", on_delete=fields.RESTRICT
    )
    consumer_id: int
    item: fields.ForeignKeyRelation[MallItem] = fields.ForeignKeyField(
        "core.MallItem", related_name="redemptions", on_delete=fields.RESTRICT
    )
    item_id: int
    idempotency_key = fields.CharField(max_length=64)
    quantity = fields.IntField()
    asset = fields.CharEnumField(Asset, max_length=16)
    unit_price = fields.BigIntField()  # as it was when redeemed
    total = fields.BigIntField()
    status = fields.CharEnumField(RedemptionStatus, max_length=16, default=RedemptionStatus.HELD)
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)  # fulfilled or voided
    closed_by_id = fields.BigIntField(null=True)

    class Meta:
        table = "mall_redemptions"
        unique_together = (("consumer", "idempotency_key"),)
        indexes = (("status", "id"),)
