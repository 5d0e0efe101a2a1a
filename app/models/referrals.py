"""Invite codes (SPEC §6.4): the short code a user shares as a link or QR code."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

INVITE_CODE_LENGTH = 8


class InviteCode(Model):
    """A user's one invite code: made the first time they ask for it, never changed."""

    user_id: int
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "core.User", related_name="invite_code", unique=True, on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=INVITE_CODE_LENGTH, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "invite_codes"
