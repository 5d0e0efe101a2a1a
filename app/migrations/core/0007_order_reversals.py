from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0006_one_binding_per_consumer')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OrderReversal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('core.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='reversal', on_delete=OnDelete.RESTRICT)),
                ('reversal_key', fields.CharField(unique=True, max_length=64)),
                ('reason', fields.CharField(max_length=255)),
                ('by_user_id', fields.BigIntField(null=True)),
                ('lots_cancelled', fields.IntField()),
                ('vouchers_clawed_back_fen', fields.BigIntField()),
                ('shopping_points_clawed_back', fields.BigIntField()),
                ('platform_loss_fen', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'order_reversals', 'app': 'core', 'unique_together': (('order',),), 'pk_attr': 'id', 'table_description': 'An admin dispute reversal after the settlement window (SPEC 11), at most one per'},
            bases=['Model'],
        ),
    ]
