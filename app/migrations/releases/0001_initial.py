from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.releases import ReleaseStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Pool',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=16)),
                ('index', fields.CharField(default='1', max_length=80)),
                ('release_count', fields.IntField(default=0)),
                ('last_size', fields.BigIntField(null=True)),
                ('anchor_on', fields.DateField(null=True)),
                ('last_release_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_scale', fields.DecimalField(null=True, max_digits=30, decimal_places=18)),
                ('due_on', fields.DateField(null=True)),
                ('due_trigger', fields.CharField(null=True, max_length=16)),
                ('condition_on', fields.DateField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'release_pools', 'app': 'releases', 'pk_attr': 'id', 'table_description': 'A points pool (consumer or merchant) and the state its trigger rule needs.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Release',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pool', fields.ForeignKeyField('releases.Pool', source_field='pool_id', db_constraint=True, to_field='id', related_name='releases', on_delete=OnDelete.RESTRICT)),
                ('release_no', fields.IntField()),
                ('status', fields.CharEnumField(default=ReleaseStatus.RUNNING, description='RUNNING: running\nDONE: done', enum_type=ReleaseStatus, max_length=10)),
                ('phase', fields.CharField(default='regular', max_length=16)),
                ('policy', fields.CharField(max_length=40)),
                ('trigger', fields.CharField(max_length=16)),
                ('condition_on', fields.DateField()),
                ('run_on', fields.DateField()),
                ('size', fields.BigIntField()),
                ('prev_size', fields.BigIntField()),
                ('growth', fields.DecimalField(max_digits=30, decimal_places=18)),
                ('index_growth', fields.DecimalField(max_digits=30, decimal_places=18)),
                ('index_before', fields.CharField(max_length=80)),
                ('index_after', fields.CharField(max_length=80)),
                ('scale_factor', fields.DecimalField(max_digits=30, decimal_places=18)),
                ('available_before_fen', fields.BigIntField()),
                ('budget_fen', fields.BigIntField()),
                ('requested_fen', fields.BigIntField()),
                ('paid_fen', fields.BigIntField(default=0)),
                ('voucher_fen', fields.BigIntField(default=0)),
                ('shopping_fen', fields.BigIntField(default=0)),
                ('subsidy_fen', fields.BigIntField(default=0)),
                ('cohort_bonus_fen', fields.BigIntField(default=0)),
                ('lots_paid', fields.IntField(default=0)),
                ('lots_exited', fields.IntField(default=0)),
                ('lots_expired', fields.IntField(default=0)),
                ('valves', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('params', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('cutoff_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cutoff_iso', fields.CharField(max_length=40)),
                ('max_lot_id', fields.BigIntField(default=0)),
                ('cursor_lot_id', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'releases', 'app': 'releases', 'unique_together': (('pool_id', 'release_no'),), 'pk_attr': 'id', 'table_description': 'One release of one pool, with every input that produced it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReleasePayment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('release_id', fields.BigIntField()),
                ('lot_id', fields.BigIntField()),
                ('kind', fields.CharField(default='regular', max_length=16)),
                ('holder_kind', fields.CharField(max_length=10)),
                ('holder_id', fields.BigIntField()),
                ('points', fields.BigIntField()),
                ('first_release_no', fields.IntField()),
                ('formula_units', fields.BigIntField()),
                ('paid_units', fields.BigIntField()),
                ('voucher_units', fields.BigIntField()),
                ('shopping_units', fields.BigIntField()),
                ('recruiter_user_id', fields.BigIntField(null=True)),
                ('subsidy_units', fields.BigIntField(default=0)),
                ('status_after', fields.CharField(max_length=10)),
            ],
            options={'table': 'release_payments', 'app': 'releases', 'unique_together': (('release_id', 'lot_id', 'kind'),), 'indexes': [Index(fields=['holder_kind', 'holder_id', 'id']), Index(fields=['lot_id', 'release_id'])], 'pk_attr': 'id', 'table_description': 'What one lot received at one release (kind regular or cohort_bonus).'},
            bases=['Model'],
        ),
    ]
