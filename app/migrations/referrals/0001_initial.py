"""Invite codes, and the indexes the referral tree and a store's customer list read by.

`ForeignKeyField(unique=True)` is recorded but its index is not made by CreateModel (see
core 0006), so the one-code-per-user index is made here by hand. The tree walks
`users.inviter_id` and a store's list walks `consumer_bindings.merchant_id`, newest
first: without these two indexes both read whole tables.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('core', '0008_account_freezes')]

    initial = True

    operations = [
        ops.CreateModel(
            name='InviteCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('core.User', source_field='user_id', unique=True, db_constraint=True, to_field='id', related_name='invite_code', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'invite_codes', 'app': 'referrals', 'pk_attr': 'id', 'table_description': "A user's one invite code: made the first time they ask for it, never changed."},
            bases=['Model'],
        ),
        ops.RunSQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS uid_invite_codes_user ON invite_codes (user_id)",
            "DROP INDEX IF EXISTS uid_invite_codes_user",
        ),
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS idx_users_inviter ON users (inviter_id, id)",
            "DROP INDEX IF EXISTS idx_users_inviter",
        ),
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS idx_consumer_bindings_merchant "
            "ON consumer_bindings (merchant_id, id)",
            "DROP INDEX IF EXISTS idx_consumer_bindings_merchant",
        ),
    ]
