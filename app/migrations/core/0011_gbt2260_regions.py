"""The GB/T 2260 regions (province / city / district with parents), loaded from the
files shipped in app/domain/regions/data (source, version and date in its README).

Reference data with no ORM model: only migrations write it."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from app.domain import regions


async def load_regions(apps, schema_editor) -> None:
    await regions.load(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('core', '0010_counter_orders')]

    initial = False

    operations = [
        ops.RunSQL(
            [
                "CREATE TABLE regions ("
                "code VARCHAR(6) NOT NULL PRIMARY KEY, "
                "name VARCHAR(64) NOT NULL, "
                "level VARCHAR(10) NOT NULL, "
                "parent_code VARCHAR(6) REFERENCES regions (code))",
                "CREATE INDEX idx_regions_parent ON regions (parent_code)",
            ],
            "DROP TABLE regions",
        ),
        ops.RunPython(load_regions),
    ]
