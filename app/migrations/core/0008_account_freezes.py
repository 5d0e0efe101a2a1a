from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0007_order_reversals')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountFreeze',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('core.User', source_field='user_id', db_constraint=True, to_field='id', related_name='freezes', on_delete=OnDelete.CASCADE)),
                ('frozen', fields.BooleanField()),
                ('reason', fields.CharField(max_length=255)),
                ('by_user', fields.ForeignKeyField('core.User', source_field='by_user_id', null=True, db_constraint=True, to_field='id', related_name='freezes_made', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'account_freezes', 'app': 'core', 'pk_attr': 'id', 'table_description': "One freeze or unfreeze of an account: who did it, when and why. The account's"},
            bases=['Model'],
        ),
    ]
