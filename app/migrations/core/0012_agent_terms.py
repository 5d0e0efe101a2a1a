"""Agencies end: an agent's term has an end (when, why), and one agency is in office per
region and level (a partial unique index) instead of one per region and level for ever."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [('core', '0011_gbt2260_regions')]

    initial = False

    operations = [
        ops.RemoveConstraint(
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
        ops.AddConstraint(
            model_name='Agent',
            constraint=UniqueConstraint(fields=('level', 'region_code'), name='uid_agents_region_in_office', condition='ended_at IS NULL'),
        ),
    ]
