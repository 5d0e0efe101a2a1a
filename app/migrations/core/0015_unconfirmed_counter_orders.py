"""The worker's scan for counter orders to expire (`orders.expire_counter_orders`), once
a minute: a partial index holding only the unconfirmed ones, so the scan reads those few
rows however many orders there are."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0014_partner_apps")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS idx_orders_unconfirmed_created "
            "ON orders (created_at) WHERE status = 'unconfirmed'",
            "DROP INDEX IF EXISTS idx_orders_unconfirmed_created",
        )
    ]
