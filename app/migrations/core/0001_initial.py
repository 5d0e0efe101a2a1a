from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.ledger import Asset
from app.models.merchants import MerchantStatus
from app.models.orders import HolderKind, LotStatus, OrderStatus
from app.models.users import Role
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=96)),
                ('asset', fields.CharEnumField(description='CNY: CNY\nPOINTS: POINTS\nVOUCHER: VOUCHER\nSHOPPING_POINTS: SHOPPING_POINTS\nGOLD_COINS: GOLD_COINS\nTRAFFIC_POINTS: TRAFFIC_POINTS', enum_type=Asset, max_length=16)),
                ('balance', fields.BigIntField(default=0)),
                ('allow_negative', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_accounts', 'app': 'core', 'unique_together': (('name', 'asset'),), 'pk_attr': 'id', 'table_description': 'One balance: an account name (owner:id:purpose) in one asset.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(db_index=True, max_length=40)),
                ('ref', fields.CharField(db_index=True, max_length=96)),
                ('idem_key', fields.CharField(null=True, unique=True, max_length=128)),
                ('memo', fields.CharField(default='', max_length=255)),
                ('seq', fields.BigIntField(null=True, unique=True)),
                ('posting_count', fields.IntField(default=0)),
                ('postings_digest', fields.CharField(default='', max_length=64)),
                ('prev_hash', fields.CharField(default='', max_length=64)),
                ('hash', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ledger_entries', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerHead',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField(default=0)),
                ('hash', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'ledger_head', 'app': 'core', 'pk_attr': 'id', 'table_description': 'The single row holding the tip of the chain. Locking it orders the chain.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Posting',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entry', fields.ForeignKeyField('core.LedgerEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='postings', on_delete=OnDelete.RESTRICT)),
                ('source', fields.ForeignKeyField('core.Account', source_field='source_id', db_constraint=True, to_field='id', related_name='outgoing', on_delete=OnDelete.RESTRICT)),
                ('destination', fields.ForeignKeyField('core.Account', source_field='destination_id', db_constraint=True, to_field='id', related_name='incoming', on_delete=OnDelete.RESTRICT)),
                ('asset', fields.CharEnumField(description='CNY: CNY\nPOINTS: POINTS\nVOUCHER: VOUCHER\nSHOPPING_POINTS: SHOPPING_POINTS\nGOLD_COINS: GOLD_COINS\nTRAFFIC_POINTS: TRAFFIC_POINTS', enum_type=Asset, max_length=16)),
                ('amount', fields.BigIntField()),
            ],
            options={'table': 'ledger_postings', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('role', fields.CharEnumField(default=Role.CONSUMER, description='CONSUMER: consumer\nMERCHANT_OWNER: merchant_owner\nMERCHANT_STAFF: merchant_staff\nPOS_DEVICE: pos_device\nAGENT: agent\nPARTNER: partner\nADMIN: admin', enum_type=Role, max_length=20)),
                ('phone', fields.CharField(null=True, unique=True, max_length=20)),
                ('wechat_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('wechat_unionid', fields.CharField(null=True, unique=True, max_length=64)),
                ('nickname', fields.CharField(default='', max_length=64)),
                ('inviter', fields.ForeignKeyField('core.User', source_field='inviter_id', null=True, db_constraint=True, to_field='id', related_name='invitees', on_delete=OnDelete.SET_NULL)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Agent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('core.User', source_field='user_id', db_constraint=True, to_field='id', related_name='agencies', on_delete=OnDelete.RESTRICT)),
                ('level', fields.CharField(max_length=10)),
                ('region_code', fields.CharField(max_length=6)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'agents', 'app': 'core', 'unique_together': (('level', 'region_code'),), 'pk_attr': 'id', 'table_description': '代理: one region code at one level (province / city / district).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Merchant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('core.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='owned_merchants', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=100)),
                ('category', fields.CharField(db_index=True, max_length=40)),
                ('address', fields.CharField(default='', max_length=255)),
                ('lat', fields.DecimalField(max_digits=10, decimal_places=7)),
                ('lng', fields.DecimalField(max_digits=10, decimal_places=7)),
                ('region_code', fields.CharField(db_index=True, max_length=6)),
                ('discount_bps', fields.IntField()),
                ('status', fields.CharEnumField(default=MerchantStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nSUSPENDED: suspended\nCLOSED: closed', enum_type=MerchantStatus, max_length=16)),
                ('recruiter_user', fields.ForeignKeyField('core.User', source_field='recruiter_user_id', null=True, db_constraint=True, to_field='id', related_name='recruited_merchants', on_delete=OnDelete.SET_NULL)),
                ('rating_x100', fields.IntField(default=450)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'merchants', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsumerBinding',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('consumer', fields.ForeignKeyField('core.User', source_field='consumer_id', unique=True, db_constraint=True, to_field='id', related_name='binding', on_delete=OnDelete.CASCADE)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='bound_consumers', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'consumer_bindings', 'app': 'core', 'pk_attr': 'id', 'table_description': '扫码锁客: a consumer bound to the merchant whose QR they scanned first, for life.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MerchantStaff',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('core.User', source_field='user_id', db_constraint=True, to_field='id', related_name='staff_of', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'merchant_staff', 'app': 'core', 'unique_together': (('merchant', 'user'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('consumer', fields.ForeignKeyField('core.User', source_field='consumer_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.RESTRICT)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.RESTRICT)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('amount_fen', fields.BigIntField()),
                ('voucher_fen', fields.BigIntField(default=0)),
                ('cash_fen', fields.BigIntField()),
                ('discount_bps', fields.IntField()),
                ('discount_fen', fields.BigIntField()),
                ('channel', fields.CharField(max_length=24)),
                ('status', fields.CharEnumField(default=OrderStatus.CREATED, description='CREATED: created\nPAYING: paying\nPAID: paid\nPARTIALLY_REFUNDED: partially_refunded\nREFUNDED: refunded\nCLOSED: closed', enum_type=OrderStatus, max_length=20)),
                ('channel_txn_id', fields.CharField(null=True, max_length=64)),
                ('refunded_fen', fields.BigIntField(default=0)),
                ('policy', fields.CharField(max_length=40)),
                ('settlement', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('settle_on', fields.DateField(null=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'orders', 'app': 'core', 'unique_together': (('consumer', 'idempotency_key'), ('channel', 'channel_txn_id')), 'indexes': [Index(fields=['merchant_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderRefund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('amount_fen', fields.BigIntField()),
                ('refund_key', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharField(default='done', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'order_refunds', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointLot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', null=True, db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.RESTRICT)),
                ('holder_kind', fields.CharEnumField(description='CONSUMER: consumer\nMERCHANT: merchant', enum_type=HolderKind, max_length=10)),
                ('holder_id', fields.BigIntField()),
                ('pool', fields.CharField(max_length=16)),
                ('points', fields.BigIntField()),
                ('status', fields.CharEnumField(default=LotStatus.PENDING, description='PENDING: pending\nACTIVE: active\nEXITED: exited\nEXPIRED: expired\nCANCELLED: cancelled', enum_type=LotStatus, max_length=10)),
                ('activate_on', fields.DateField()),
                ('activated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('first_release_no', fields.IntField(null=True)),
                ('first_index', fields.DecimalField(null=True, max_digits=40, decimal_places=18)),
                ('released_units', fields.BigIntField(default=0)),
                ('release_count', fields.IntField(default=0)),
                ('recruiter_user_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'point_lots', 'app': 'core', 'indexes': [Index(fields=['pool', 'status', 'id']), Index(fields=['holder_kind', 'holder_id']), Index(fields=['status', 'activate_on'])], 'pk_attr': 'id', 'table_description': 'Points from one order for one holder, released into vouchers over time.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PosDevice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('core.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='pos_devices', on_delete=OnDelete.CASCADE)),
                ('serial', fields.CharField(unique=True, max_length=64)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'pos_devices', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
