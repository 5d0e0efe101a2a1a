"""Exports: one table of a requester's exports, their progress and the lease of the
worker running one (a lapsed lease lets another resume it at its last batch)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.exports import ExportKind, ExportStatus
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Export',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('requester', fields.CharField(max_length=40)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='ORDERS: orders\nLEDGER: ledger\nAGENT_STATEMENT: agent_statement\nRELEASES: releases', enum_type=ExportKind, max_length=20)),
                ('criteria', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('scope', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=ExportStatus.QUEUED, description='QUEUED: queued\nRUNNING: running\nDONE: done\nFAILED: failed\nEXPIRED: expired', enum_type=ExportStatus, max_length=10)),
                ('total_rows', fields.BigIntField(null=True)),
                ('rows_scanned', fields.BigIntField(default=0)),
                ('rows_written', fields.BigIntField(default=0)),
                ('upper_key', fields.BigIntField(null=True)),
                ('cursor_key', fields.BigIntField(default=0)),
                ('bytes_written', fields.BigIntField(default=0)),
                ('attempts', fields.IntField(default=0)),
                ('lease_token', fields.CharField(null=True, max_length=32)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failure', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'exports', 'app': 'exports', 'unique_together': (('requester', 'idempotency_key'),), 'indexes': [Index(fields=['requester', 'id']), Index(fields=['status', 'lease_until'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
