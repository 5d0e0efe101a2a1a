from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.webhooks import DeliveryStatus, SubscriptionStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0015_unconfirmed_counter_orders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookSigningKey',
            fields=[
                ('kid', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('alg', fields.CharField(max_length=16)),
                ('private_key', fields.TextField(unique=False)),
                ('public_jwk', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('unpublish_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_signing_keys', 'app': 'core', 'pk_attr': 'kid', 'table_description': 'A platform key deliveries are signed with. The newest not retired signs; retired'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('app', fields.ForeignKeyField('core.PartnerApp', source_field='app_id', db_constraint=True, to_field='id', related_name='webhook_subscriptions', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2048)),
                ('events', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=SubscriptionStatus.ACTIVE, description='ACTIVE: active\nFAILING: failing\nDISABLED: disabled', enum_type=SubscriptionStatus, max_length=8)),
                ('consecutive_failures', fields.IntField(default=0)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_subscriptions', 'app': 'core', 'unique_together': (('app', 'url'),), 'pk_attr': 'id', 'table_description': "A partner app's receiver URL and the event kinds it wants."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('webhook_id', fields.UUIDField(unique=True)),
                ('subscription', fields.ForeignKeyField('core.WebhookSubscription', source_field='subscription_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.UUIDField()),
                ('event_kind', fields.CharField(max_length=64)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nDELIVERED: delivered\nFAILED: failed', enum_type=DeliveryStatus, max_length=9)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=200)),
                ('event_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_deliveries', 'app': 'core', 'unique_together': (('subscription', 'event_id'),), 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One event owed to one subscription; its `webhook_id` is the `Webhook-Id`, the same'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('core.WebhookDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.IntField()),
                ('status_code', fields.IntField(null=True)),
                ('error', fields.CharField(null=True, max_length=100)),
                ('response_excerpt', fields.CharField(null=True, max_length=200)),
                ('kid', fields.CharField(max_length=64)),
            ],
            options={'table': 'webhook_attempts', 'app': 'core', 'indexes': [Index(fields=['delivery_id', 'number'])], 'pk_attr': 'id', 'table_description': 'One POST of a delivery: when, how long, what came back (a status code, or the'},
            bases=['Model'],
        ),
    ]
