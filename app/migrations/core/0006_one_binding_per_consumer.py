"""The unique constraint the model declares on consumer_bindings.consumer_id.

`ForeignKeyField(unique=True)` was recorded in 0001 but the migration did not create the
index, so two concurrent first scans could bind one consumer twice.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("core", "0005_release_fillfactor")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS uid_consumer_bindings_consumer "
            "ON consumer_bindings (consumer_id)",
            "DROP INDEX IF EXISTS uid_consumer_bindings_consumer",
        )
    ]
