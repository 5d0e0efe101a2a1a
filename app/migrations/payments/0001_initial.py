from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.payments import PaymentStatus, RefundStatus, SplitStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0001_initial'), ('core', '0002_order_settled_at'), ('core', '0003_order_pay_params')]

    initial = True

    operations = [
        ops.CreateModel(
            name='ChannelState',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(unique=True, max_length=24)),
                ('live', fields.BooleanField(default=True)),
                ('reason', fields.CharField(default='', max_length=255)),
                ('changed_by_user_id', fields.BigIntField(null=True)),
                ('changed_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'payment_channel_states', 'app': 'payments', 'pk_attr': 'id', 'table_description': 'An admin decision about a whole channel (live or down), with who and why.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MerchantChannel',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='payment_channels', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=24)),
                ('priority', fields.IntField(default=100)),
                ('enabled', fields.BooleanField(default=True)),
                ('provider_merchant_id', fields.CharField(default='', max_length=64)),
                ('split_receiver_ready', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'payment_merchant_channels', 'app': 'payments', 'unique_together': (('merchant', 'channel'),), 'pk_attr': 'id', 'table_description': 'A channel a merchant can be paid through, in priority order (lower first).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharField(max_length=24)),
                ('out_trade_no', fields.CharField(unique=True, max_length=64)),
                ('amount_fen', fields.BigIntField()),
                ('merchant_fen', fields.BigIntField()),
                ('platform_fen', fields.BigIntField()),
                ('provider_merchant_id', fields.CharField(default='', max_length=64)),
                ('status', fields.CharEnumField(default=PaymentStatus.PENDING, description='PENDING: pending\nFAILED: failed\nPAID: paid\nCLOSED: closed', enum_type=PaymentStatus, max_length=10)),
                ('error_code', fields.CharField(default='', max_length=64)),
                ('channel_txn_id', fields.CharField(null=True, max_length=64)),
                ('pay_params', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('split_status', fields.CharEnumField(default=SplitStatus.NONE, description='NONE: none\nPENDING: pending\nPROCESSING: processing\nFINISHED: finished\nFAILED: failed', enum_type=SplitStatus, max_length=12)),
                ('split_out_no', fields.CharField(null=True, max_length=64)),
                ('split_channel_id', fields.CharField(null=True, max_length=64)),
                ('split_returned_fen', fields.BigIntField(default=0)),
                ('split_attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'payments', 'app': 'payments', 'indexes': [Index(fields=['status', 'created_at']), Index(fields=['split_status', 'updated_at'])], 'pk_attr': 'id', 'table_description': 'One order paid through one channel: what we asked for and what the channel said.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChannelRefund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('payment', fields.ForeignKeyField('payments.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('refund_key', fields.CharField(unique=True, max_length=64)),
                ('amount_fen', fields.BigIntField()),
                ('split_return_fen', fields.BigIntField(default=0)),
                ('split_return_done', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=RefundStatus.PENDING, description='PENDING: pending\nPROCESSING: processing\nSUCCESS: success\nFAILED: failed', enum_type=RefundStatus, max_length=12)),
                ('channel_refund_id', fields.CharField(null=True, max_length=64)),
                ('error_code', fields.CharField(default='', max_length=64)),
                ('attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payment_refunds', 'app': 'payments', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'The channel side of an order refund, keyed by the refund key (out_refund_no).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaymentNotification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=24)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('headers', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('body', fields.TextField(unique=False)),
                ('verified', fields.BooleanField(default=False)),
                ('kind', fields.CharField(default='', max_length=16)),
                ('outcome', fields.CharField(default='received', max_length=16)),
                ('reason', fields.CharField(default='', max_length=255)),
                ('out_trade_no', fields.CharField(null=True, max_length=64)),
                ('ref', fields.CharField(null=True, max_length=64)),
                ('order_id', fields.BigIntField(null=True)),
            ],
            options={'table': 'payment_notifications', 'app': 'payments', 'indexes': [Index(fields=['channel', 'received_at']), Index(fields=['out_trade_no'])], 'pk_attr': 'id', 'table_description': 'Every notification a channel sent us, raw, whatever became of it.'},
            bases=['Model'],
        ),
    ]
