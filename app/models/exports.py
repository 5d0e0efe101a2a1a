"""Exports: a requester's file of orders, ledger postings, an agency's statement lines or
release payments, written by the worker in keyed batches and fetched from a signed link."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ExportKind(StrEnum):
    ORDERS = "orders"
    LEDGER = "ledger"
    AGENT_STATEMENT = "agent_statement"
    RELEASES = "releases"


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"  # done, and its file deleted after its expiry


class Export(Model):
    id = fields.BigIntField(primary_key=True)
    # the principal's key (`user:5`, `partner:2`): the same key repeats the same export
    requester = fields.CharField(max_length=40)
    idempotency_key = fields.CharField(max_length=64)
    kind = fields.CharEnumField(ExportKind, max_length=20)
    # the filter as asked (`criteria`), normalised, and the scope the requester had when it started:
    # the worker reads both and never the principal, which it does not have
    criteria: dict = fields.JSONField()
    scope: dict = fields.JSONField()
    status = fields.CharEnumField(ExportStatus, max_length=10, default=ExportStatus.QUEUED)
    total_rows = fields.BigIntField(null=True)  # source rows in range, counted at the start
    rows_scanned = fields.BigIntField(default=0)  # source rows done (progress)
    rows_written = fields.BigIntField(default=0)  # lines in the file
    # Keyset batches: the highest key when the export first ran (rows added later are
    # not in it), the last key whose batch is in the file, and the file's length then.
    upper_key = fields.BigIntField(null=True)
    cursor_key = fields.BigIntField(default=0)
    bytes_written = fields.BigIntField(default=0)
    attempts = fields.IntField(default=0)
    # the worker running it and until when; a lapsed lease lets another one resume it
    lease_token = fields.CharField(max_length=32, null=True)
    lease_until = fields.DatetimeField(null=True)
    failure = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)  # the file is deleted after this

    class Meta:
        table = "exports"
        unique_together = (("requester", "idempotency_key"),)
        indexes = (("requester", "id"), ("status", "lease_until"))
