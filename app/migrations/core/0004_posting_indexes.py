from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('core', '0003_order_pay_params')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Posting',
            index=Index(fields=['source_id']),
        ),
        ops.AddIndex(
            model_name='Posting',
            index=Index(fields=['destination_id']),
        ),
        ops.AddIndex(
            model_name='Posting',
            index=Index(fields=['entry_id', 'id']),
        ),
    ]
