from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='OutboxEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=64)),
                ('subject', fields.CharField(max_length=64)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_events', 'app': 'events', 'pk_attr': 'id', 'table_description': 'One event (`order.paid`, ...). Undone until every consumer of its kind has it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('events.OutboxEvent', source_field='event_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('consumer', fields.CharField(max_length=64)),
                ('delivered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_deliveries', 'app': 'events', 'unique_together': (('event_id', 'consumer'),), 'pk_attr': 'id', 'table_description': 'A consumer has been given an event that is not done (its other consumers not'},
            bases=['Model'],
        ),
        # The sweep reads only what is not done yet, oldest due first.
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS outbox_events_undone ON outbox_events (due_at) "
            "WHERE done_at IS NULL",
            "DROP INDEX IF EXISTS outbox_events_undone",
        ),
    ]
