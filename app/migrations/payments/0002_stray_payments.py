from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.payments import PaymentStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0007_order_reversals'), ('payments', '0001_initial')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Payment',
            name='status',
            field=fields.CharEnumField(default=PaymentStatus.PENDING, description='PENDING: pending\nFAILED: failed\nPAID: paid\nCLOSED: closed\nSTRAY: stray', enum_type=PaymentStatus, max_length=10),
        ),
    ]
