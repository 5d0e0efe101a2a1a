"""Merchants (商家/门店), their staff and POS devices."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model


class MerchantStatus(StrEnum):
    PENDING = "pending"  # applied, awaiting approval
    APPROVED = "approved"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class CoordSystem(StrEnum):
    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


class Merchant(Model):
    id = fields.BigIntField(primary_key=True)
    owner: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="owned_merchants", on_delete=fields.RESTRICT
    )
    owner_id: int
    recruiter_user_id: int | None
    name = fields.CharField(max_length=100)
    category = fields.CharField(max_length=40, db_index=True)
    address = fields.CharField(max_length=255, default="")
    # Stored in GCJ-02 (what WeChat and Amap hand us); queries convert at the edge.
    lat = fields.DecimalField(max_digits=10, decimal_places=7)
    lng = fields.DecimalField(max_digits=10, decimal_places=7)
    region_code = fields.CharField(max_length=6, db_index=True)  # GB/T 2260
    discount_bps = fields.IntField()  # 让利比例
    status = fields.CharEnumField(MerchantStatus, max_length=16, default=MerchantStatus.PENDING)
    # 招商: who brought this merchant in, bound for life (SPEC §6).
    recruiter_user: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "core.User", related_name="recruited_merchants", null=True, on_delete=fields.SET_NULL
    )
    rating_x100 = fields.IntField(default=450)  # 4.50 stars
    # what the rating follows (SPEC §14.2): the store's reviews and their stars
    review_count = fields.IntField(default=0)
    review_stars_sum = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "merchants"


class MerchantStaff(Model):
    merchant_id: int
    user_id: int
    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="staff", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="staff_of", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "merchant_staff"
        unique_together = (("merchant", "user"),)


POS_SERIAL_MAX = 64


class PosDevice(Model):
    merchant_id: int
    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="pos_devices", on_delete=fields.CASCADE
    )
    serial = fields.CharField(max_length=POS_SERIAL_MAX, unique=True)
    # sha256 of the device secret; the secret itself is shown once, at registration.
    secret_hash = fields.CharField(max_length=64)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pos_devices"


class ConsumerBinding(Model):
    """扫码锁客: a consumer bound to the merchant whose QR they scanned first, for life."""

    consumer_id: int
    merchant_id: int

    id = fields.BigIntField(primary_key=True)
    consumer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="binding", on_delete=fields.CASCADE, unique=True
    )
    merchant: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.Merchant", related_name="bound_consumers", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consumer_bindings"


class Agent(Model):
    """代理: one region code at one level (province / city / district), from its
    appointment until it is ended. An ended agency keeps its row (its ledger accounts and
    statements name it) and earns nothing more; the region may then have a new one."""

    user_id: int
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="agencies", on_delete=fields.RESTRICT
    )
    level = fields.CharField(max_length=10)  # province | city | district
    region_code = fields.CharField(max_length=6)
    created_at = fields.DatetimeField(auto_now_add=True)
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=255, default="")

    class Meta:
        table = "agents"
        # one agency in office per region and level
        constraints = (
            UniqueConstraint(
                fields=("level", "region_code"),
                name="uid_agents_region_in_office",
                condition="ended_at IS NULL",
            ),
        )
