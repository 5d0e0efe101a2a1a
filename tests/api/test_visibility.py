"""Visibility in one place per type (issue 14): `node(id)` shows exactly what the
type's own field shows, to every kind of caller."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.models.merchants import MerchantStatus
from app.models.users import Role
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

BOTH = """query($id: ID!) { merchant(id: $id) { id status }
  node(id: $id) { ... on Merchant { id status } } }"""


async def test_node_and_merchant_agree_on_a_merchant_in_every_state(client):
    owner = await make_user(Role.MERCHANT_OWNER)
    admin = await make_user(Role.ADMIN)
    stranger = await make_user()
    callers = {
        "anonymous": None,
        "stranger": await token_for(stranger.id, "consumer"),
        "owner": await token_for(owner.id, "merchant_owner"),
        "admin": await token_for(admin.id, "admin"),
        # a device whose id is the owner's user id is not the owner
        "device": await token_for(owner.id, "pos_device"),
    }
    pending = await make_merchant(owner=owner, approve=False)
    approved = await make_merchant(owner=owner)
    seen = {}
    for name, token in callers.items():
        for m in (pending, approved):
            gid = str(GlobalID("Merchant", str(m.id)))
            data = (await gql(client, BOTH, {"id": gid}, token))["data"]
            assert data["merchant"] == data["node"], (name, m.status)
            seen[name, m.status] = data["node"] is not None
    assert seen == {
        **{(n, MerchantStatus.APPROVED): True for n in callers},
        ("anonymous", MerchantStatus.PENDING): False,
        ("stranger", MerchantStatus.PENDING): False,
        ("owner", MerchantStatus.PENDING): True,
        ("admin", MerchantStatus.PENDING): True,
        ("device", MerchantStatus.PENDING): False,
    }
