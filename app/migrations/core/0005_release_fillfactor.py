"""Storage parameters for the release engine (no model change).

Every release rewrites each active lot once (released_units, release_count, first
release) and the balance of each holder paid. None of those columns is indexed, so the
new row version can stay on its page (a HOT update: no new index entries) as long as
the page has room for it. A lot page filled to 50% holds a second version of every lot
on it; the version left by the previous release is pruned when the page is next read.
The same for ledger_accounts: a release moves the balance of every holder it pays.
Takes effect for pages written from now on (an existing table: VACUUM FULL or CLUSTER).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

POINT_LOTS_FILLFACTOR = 50
LEDGER_ACCOUNTS_FILLFACTOR = 50


async def _set(apps, schema_editor) -> None:  # noqa: ANN001
    client = schema_editor.client
    await client.execute_script(
        f"ALTER TABLE point_lots SET (fillfactor = {POINT_LOTS_FILLFACTOR}); "
        f"ALTER TABLE ledger_accounts SET (fillfactor = {LEDGER_ACCOUNTS_FILLFACTOR})"
    )


async def _reset(apps, schema_editor) -> None:  # noqa: ANN001
    client = schema_editor.client
    await client.execute_script(
        "ALTER TABLE point_lots RESET (fillfactor); ALTER TABLE ledger_accounts RESET (fillfactor)"
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0004_posting_indexes")]

    initial = False

    operations = [ops.RunPython(_set, _reset)]
