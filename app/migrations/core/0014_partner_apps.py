from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0013_admin_audit_log')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PartnerApp',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('client_id', fields.CharField(unique=True, max_length=40)),
                ('secret_hash', fields.CharField(max_length=200)),
                ('previous_secret_hash', fields.CharField(null=True, max_length=200)),
                ('previous_secret_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('secret_rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('scopes', fields.CharField(max_length=255)),
                ('merchant_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('region_codes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('cost_capacity', fields.IntField(null=True)),
                ('cost_restore_rate', fields.IntField(null=True)),
                ('is_active', fields.BooleanField(default=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.CharField(null=True, max_length=255)),
                ('created_by_user_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'partner_apps', 'app': 'core', 'pk_attr': 'id', 'table_description': 'One partner integration. Its client secret is stored only as a scrypt hash; a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerReadAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('app_id', fields.BigIntField()),
                ('operation_name', fields.CharField(null=True, max_length=200)),
                ('operation_type', fields.CharField(null=True, max_length=12)),
                ('document_sha256', fields.CharField(null=True, max_length=64)),
                ('requested_cost', fields.IntField()),
                ('actual_cost', fields.IntField(null=True)),
                ('throttled', fields.BooleanField(default=False)),
                ('request_id', fields.CharField(max_length=64)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_read_audit', 'app': 'core', 'indexes': [Index(fields=['app_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One GraphQL request of a partner app: which operation (its name and the hash of'},
            bases=['Model'],
        ),
    ]
