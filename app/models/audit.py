"""The admin audit trail: who changed what, when, from what to what, and why.

Append-only and hash-chained like the ledger: each entry's hash covers the one before it
and its own content, and the head row records where the chain ends, so an edited,
deleted or inserted entry is found by `verify-audit` (run by `verify-ledger` too).
The actor is kept as a plain id, not a foreign key: nothing done to an account may
rewrite the history of what it did.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    at = fields.DatetimeField()
    actor_kind = fields.CharField(max_length=16)  # user | operator (the CLI)
    actor_id = fields.BigIntField(null=True)  # the admin's user id
    action = fields.CharField(max_length=64, db_index=True)  # the mutation or command
    target_type = fields.CharField(max_length=32)
    target_id = fields.CharField(max_length=64)
    # canonical JSON text (sorted keys): hashed exactly as stored
    before = fields.TextField()
    after = fields.TextField()
    reason = fields.CharField(max_length=255, default="")
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_log"
        indexes = (("actor_id", "seq"),)


class AuditHead(Model):
    """The chain's tip: one row, locked by each append (which serialises appends)."""

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"
