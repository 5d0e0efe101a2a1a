from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.ledger import Asset
from app.models.mall import RedemptionStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0008_account_freezes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MallItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('description', fields.CharField(default='', max_length=500)),
                ('asset', fields.CharEnumField(description='CNY: CNY\nPOINTS: POINTS\nVOUCHER: VOUCHER\nSHOPPING_POINTS: SHOPPING_POINTS\nGOLD_COINS: GOLD_COINS\nTRAFFIC_POINTS: TRAFFIC_POINTS', enum_type=Asset, max_length=16)),
                ('price', fields.BigIntField()),
                ('stock', fields.IntField()),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'mall_items', 'app': 'core', 'indexes': [Index(fields=['asset', 'active'])], 'pk_attr': 'id', 'table_description': 'An item of the catalogue an admin manages. `stock` is what can still be redeemed:'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MallRedemption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('consumer', fields.ForeignKeyField('core.User', source_field='consumer_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('item', fields.ForeignKeyField('core.MallItem', source_field='item_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('quantity', fields.IntField()),
                ('asset', fields.CharEnumField(description='CNY: CNY\nPOINTS: POINTS\nVOUCHER: VOUCHER\nSHOPPING_POINTS: SHOPPING_POINTS\nGOLD_COINS: GOLD_COINS\nTRAFFIC_POINTS: TRAFFIC_POINTS', enum_type=Asset, max_length=16)),
                ('unit_price', fields.BigIntField()),
                ('total', fields.BigIntField()),
                ('status', fields.CharEnumField(default=RedemptionStatus.HELD, description='HELD: held\nFULFILLED: fulfilled\nVOIDED: voided', enum_type=RedemptionStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_by_id', fields.BigIntField(null=True)),
            ],
            options={'table': 'mall_redemptions', 'app': 'core', 'unique_together': (('consumer', 'idempotency_key'),), 'indexes': [Index(fields=['status', 'id'])], 'pk_attr': 'id', 'table_description': "One consumer's redemption of an item, once per (consumer, idempotency key)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Review',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', unique=True, db_constraint=True, to_field='id', related_name='review', on_delete=OnDelete.RESTRICT)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.RESTRICT)),
                ('consumer', fields.ForeignKeyField('core.User', source_field='consumer_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.RESTRICT)),
                ('stars', fields.SmallIntField()),
                ('text', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reviews', 'app': 'core', 'indexes': [Index(fields=['merchant_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Merchant',
            name='review_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Merchant',
            name='review_stars_sum',
            field=fields.BigIntField(default=0),
        ),
    ]
