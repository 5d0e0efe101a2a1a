"""Entries are sealed into the hash chain off the hot path (PostgreSQL, no model change).

An entry is written with no chain link (`seq` NULL) and sealed later, in id order, by
`app.domain.ledger.seal`. This partial index holds only the unsealed tail, so finding
the next batch costs the same whatever the table's size; sealed rows leave it.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


async def _create(apps, schema_editor) -> None:  # noqa: ANN001
    await schema_editor.client.execute_script(
        "CREATE INDEX IF NOT EXISTS ledger_entries_unsealed "
        "ON ledger_entries (id) WHERE seq IS NULL"
    )


async def _drop(apps, schema_editor) -> None:  # noqa: ANN001
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS ledger_entries_unsealed")


class Migration(migrations.Migration):
    dependencies = [("core", "0016_webhooks")]

    initial = False

    operations = [ops.RunPython(_create, _drop)]
