from tortoise import migrations
from tortoise.migrations import operations as ops
from app.models.users import Role
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('role', fields.CharEnumField(default=Role.CONSUMER, description='CONSUMER: consumer\nMERCHANT_OWNER: merchant_owner\nMERCHANT_STAFF: merchant_staff\nPOS_DEVICE: pos_device\nAGENT: agent\nPARTNER: partner\nADMIN: admin', enum_type=Role, max_length=20)),
                ('phone', fields.CharField(null=True, unique=True, max_length=20)),
                ('wechat_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('wechat_unionid', fields.CharField(null=True, unique=True, max_length=64)),
                ('nickname', fields.CharField(default='', max_length=64)),
                ('inviter', fields.ForeignKeyField('core.User', source_field='inviter_id', null=True, db_constraint=True, to_field='id', related_name='invitees', on_delete=OnDelete.SET_NULL)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'core', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
