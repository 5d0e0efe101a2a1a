"""People and their sign-in identities."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    CONSUMER = "consumer"
    MERCHANT_OWNER = "merchant_owner"
    MERCHANT_STAFF = "merchant_staff"
    POS_DEVICE = "pos_device"
    AGENT = "agent"
    PARTNER = "partner"
    ADMIN = "admin"


class User(Model):
    id = fields.BigIntField(primary_key=True)
    role = fields.CharEnumField(Role, max_length=20, default=Role.CONSUMER)
    phone = fields.CharField(max_length=20, null=True, unique=True)
    wechat_openid = fields.CharField(max_length=64, null=True, unique=True)
    wechat_unionid = fields.CharField(max_length=64, null=True, unique=True)
    nickname = fields.CharField(max_length=64, default="")
    inviter_id: int | None
    # 邀请人: set once, never changed (SPEC §6).
    inviter: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "core.User", related_name="invitees", null=True, on_delete=fields.SET_NULL
    )
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class AccountFreeze(Model):
    """One freeze or unfreeze of an account: who did it, when and why. The account's
    current state is `User.is_active`; this is its history."""

    user_id: int
    by_user_id: int | None
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "core.User", related_name="freezes", on_delete=fields.CASCADE
    )
    frozen = fields.BooleanField()  # True: frozen by this record; False: unfrozen
    reason = fields.CharField(max_length=255)
    by_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "core.User", related_name="freezes_made", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "account_freezes"
