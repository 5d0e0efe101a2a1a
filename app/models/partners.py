"""Partner apps (合作方应用): who may call the API on a partner's behalf, what it may read,
and what it read."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

PARTNER_NAME_MAX = 100
OPERATION_NAME_MAX = 200


class PartnerApp(Model):
    """One partner integration. Its client secret is stored only as a scrypt hash; a
    rotated secret keeps working until `previous_secret_expires_at`."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=PARTNER_NAME_MAX, unique=True)
    client_id = fields.CharField(max_length=40, unique=True)
    secret_hash = fields.CharField(max_length=200)
    previous_secret_hash = fields.CharField(max_length=200, null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    secret_rotated_at = fields.DatetimeField(null=True)
    # the scopes granted, space-separated in a fixed order (app/domain/partners.py)
    scopes = fields.CharField(max_length=255)
    # what it may see: these merchants, and every merchant in these GB/T 2260 regions
    merchant_ids: list[int] = fields.JSONField(default=list)
    region_codes: list[str] = fields.JSONField(default=list)
    # its cost bucket; null: the settings' defaults
    cost_capacity = fields.IntField(null=True)
    cost_restore_rate = fields.IntField(null=True)
    is_active = fields.BooleanField(default=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=255, null=True)
    created_by_user_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "partner_apps"


class PartnerReadAudit(Model):
    """One GraphQL request of a partner app: which operation (its name and the hash of
    its document), when, and what it cost. Kept for `partner_read_audit_keep_days`."""

    id = fields.BigIntField(primary_key=True)
    # a plain key: rows are written after the response, in batches, and outlive nothing
    app_id = fields.BigIntField()
    operation_name = fields.CharField(max_length=OPERATION_NAME_MAX, null=True)
    operation_type = fields.CharField(max_length=12, null=True)
    document_sha256 = fields.CharField(max_length=64, null=True)
    requested_cost = fields.IntField()
    actual_cost = fields.IntField(null=True)
    throttled = fields.BooleanField(default=False)
    request_id = fields.CharField(max_length=64)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "partner_read_audit"
        indexes = (("app_id", "id"),)
