from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.orders import OrderOrigin, OrderStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0009_mall_and_reviews')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Order',
            name='status',
            field=fields.CharEnumField(default=OrderStatus.CREATED, description='UNCONFIRMED: unconfirmed\nCREATED: created\nPAYING: paying\nPAID: paid\nPARTIALLY_REFUNDED: partially_refunded\nREFUNDED: refunded\nCLOSED: closed', enum_type=OrderStatus, max_length=20),
        ),
        ops.AddField(
            model_name='Order',
            name='counter_key',
            field=fields.CharField(null=True, unique=True, max_length=100),
        ),
        ops.AddField(
            model_name='Order',
            name='origin',
            field=fields.CharEnumField(default=OrderOrigin.APP, description='APP: app\nCOUNTER: counter', db_default='app', enum_type=OrderOrigin, max_length=10),
        ),
    ]
