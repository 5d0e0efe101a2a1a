from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0003_order_pay_params')]

    initial = True

    operations = [
        ops.CreateModel(
            name='ExposureBoost',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='boosts', on_delete=OnDelete.CASCADE)),
                ('points', fields.BigIntField()),
                ('hours', fields.IntField()),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('idem_key', fields.CharField(unique=True, max_length=96)),
                ('ledger_entry_id', fields.BigIntField()),
                ('created_by_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'geo_boosts', 'app': 'geo', 'indexes': [Index(fields=['merchant_id', 'ends_at'])], 'pk_attr': 'id', 'table_description': 'Traffic points spent to lift a merchant in nearby ranking until `ends_at`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GeoOrderFact',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', unique=True, db_constraint=True, to_field='id', related_name='geo_fact', on_delete=OnDelete.CASCADE)),
                ('merchant_id', fields.BigIntField()),
                ('cell', fields.CharField(max_length=16)),
                ('paid_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('hour', fields.BigIntField()),
                ('period', fields.CharField(max_length=10)),
                ('amount_fen', fields.BigIntField()),
                ('refunded_fen', fields.BigIntField(default=0)),
                ('counted', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'geo_order_facts', 'app': 'geo', 'pk_attr': 'id', 'table_description': 'What one paid order put into the heat map and the task counters, kept so a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HeatCell',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('cell', fields.CharField(max_length=16)),
                ('hour', fields.BigIntField()),
                ('lat', fields.FloatField()),
                ('lng', fields.FloatField()),
                ('orders', fields.IntField(default=0)),
                ('amount_fen', fields.BigIntField(default=0)),
            ],
            options={'table': 'geo_heat_cells', 'app': 'geo', 'unique_together': (('cell', 'hour'),), 'indexes': [Index(fields=['hour', 'lat', 'lng'])], 'pk_attr': 'id', 'table_description': 'Paid orders and amounts in one H3 cell during one hour, kept incrementally.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MerchantTaskCounter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='task_counters', on_delete=OnDelete.CASCADE)),
                ('metric', fields.CharField(max_length=32)),
                ('period', fields.CharField(max_length=10)),
                ('value', fields.IntField(default=0)),
            ],
            options={'table': 'geo_task_counters', 'app': 'geo', 'unique_together': (('merchant_id', 'metric', 'period'),), 'pk_attr': 'id', 'table_description': 'A task metric of one merchant in one period (an ISO week, or all for lifetime).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('metric', fields.CharField(max_length=32)),
                ('event_key', fields.CharField(max_length=64)),
                ('merchant_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'geo_task_events', 'app': 'geo', 'unique_together': (('metric', 'event_key'),), 'pk_attr': 'id', 'table_description': 'An outside event counted once towards a task metric (a review, say).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskReward',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='task_rewards', on_delete=OnDelete.CASCADE)),
                ('task_code', fields.CharField(max_length=40)),
                ('period', fields.CharField(max_length=10)),
                ('points', fields.BigIntField()),
                ('ledger_entry_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'geo_task_rewards', 'app': 'geo', 'unique_together': (('merchant_id', 'task_code', 'period'),), 'pk_attr': 'id', 'table_description': 'Traffic points paid for one task in one period: at most once.'},
            bases=['Model'],
        ),
    ]
