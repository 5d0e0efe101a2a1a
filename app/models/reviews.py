"""Reviews of stores by their customers (SPEC §14.2): one per settled order."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Review(Model):
    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Order", related_name="review", on_delete=fields.RESTRICT, unique=True
    )
    order_id: int
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="reviews", on_delete=fields.RESTRICT
    )
    merchant_id: int
    consumer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="reviews", on_delete=fields.RESTRICT
    )
    consumer_id: int
    stars = fields.SmallIntField()  # 1..5
    text = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reviews"
        indexes = (("merchant_id", "id"),)
