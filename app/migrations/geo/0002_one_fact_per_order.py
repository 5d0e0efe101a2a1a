"""The unique constraint the model declares on geo_order_facts.order_id.

`ForeignKeyField(unique=True)` was recorded in 0001 but the migration did not create the
index: two concurrent hooks of one order could each add it to the heat map, and the
one-statement path for a new paid order (`INSERT … ON CONFLICT (order_id)`) needs it.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("geo", "0001_initial")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS uid_geo_order_facts_order "
            "ON geo_order_facts (order_id)",
            "DROP INDEX IF EXISTS uid_geo_order_facts_order",
        )
    ]
