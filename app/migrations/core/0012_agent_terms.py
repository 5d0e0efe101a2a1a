"""Agencies end: an agent's term has an end (when, why), and one agency is in office per
region and level (a partial unique index) instead of one per region and level for ever."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# Tortoise's SQLite editor looks the constraint up as an index by its name, but 0001 made
# it inline in CREATE TABLE (an automatic index of another name): on SQLite the table is
# made again without it, as SQLite cannot drop a table constraint.
_SQLITE_REMAKE = [
    'CREATE TABLE "agents__new" ('
    '"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
    '"level" VARCHAR(10) NOT NULL, '
    '"region_code" VARCHAR(6) NOT NULL, '
    '"created_at" TIMESTAMP NOT NULL, '
    '"user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT)',
    'INSERT INTO "agents__new" (id, level, region_code, created_at, user_id) '
    'SELECT id, level, region_code, created_at, user_id FROM "agents"',
    'DROP TABLE "agents"',
    'ALTER TABLE "agents__new" RENAME TO "agents"',
]


class DropUniqueTogether(ops.RemoveConstraint):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None or state_editor.client.capabilities.dialect != "sqlite":
            return await super().database_forward(app_label, old_state, new_state, state_editor)
        for sql in _SQLITE_REMAKE:
            await state_editor.client.execute_script(sql)


class AddPartialUnique(ops.AddConstraint):
    """SQLite has partial indexes too; Tortoise's SQLite editor does not make them."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None or state_editor.client.capabilities.dialect != "sqlite":
            return await super().database_forward(app_label, old_state, new_state, state_editor)
        await state_editor.client.execute_script(
            'CREATE UNIQUE INDEX "uid_agents_region_in_office" '
            'ON "agents" ("level", "region_code") WHERE "ended_at" IS NULL'
        )


class Migration(migrations.Migration):
    dependencies = [('core', '0011_gbt2260_regions')]

    initial = False

    operations = [
        DropUniqueTogether(
            model_name='Agent',
            name=None,
            fields=['level', 'region_code'],
        ),
        ops.AlterModelOptions(
            name='Agent',
            options={'table': 'agents', 'app': 'core', 'constraints': [UniqueConstraint(fields=('level', 'region_code'), name='uid_agents_region_in_office', condition='ended_at IS NULL')], 'pk_attr': 'id', 'table_description': '代理: one region code at one level (province / city / district), from its'},
        ),
        ops.AddField(
            model_name='Agent',
            name='end_reason',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='Agent',
            name='ended_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        AddPartialUnique(
            model_name='Agent',
            constraint=UniqueConstraint(fields=('level', 'region_code'), name='uid_agents_region_in_office', condition='ended_at IS NULL'),
        ),
    ]
