"""reverseOrderAfterWindow: admins only; expected failures come back typed."""

from __future__ import annotations

from app.api.graphql.core.ids import encode_id
from app.domain import orders
from app.models.users import Role
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

REVERSE = """mutation($id: ID!, $key: String!) {
  reverseOrderAfterWindow(orderId: $id, reason: "chargeback", reversalKey: $key) {
    __typename
    ... on ReverseOrderSuccess { order { status } lotsCancelled
      voucherClawedBack: vouchersClawedBackFen platformLossFen }
    ... on OrderError { code field message } } }"""


async def test_only_an_admin_reverses_and_errors_are_typed(client):
    owner = await make_user(Role.MERCHANT_OWNER)
    shop = await make_merchant(owner)
    buyer = await make_user()
    order = await paid_order(buyer, shop, 8_000)
    gid = str(encode_id("Order", order.id))
    # the store's owner may not
    body = await gql(client, REVERSE, {"id": gid, "key": "k1"},
                     await token_for(owner.id, "merchant_owner"), expect_errors=True)  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    admin = await token_for((await make_user(Role.ADMIN)).id, "admin")
    # inside the window: a typed error, nothing reversed
    body = await gql(client, REVERSE, {"id": gid, "key": "k1"}, admin)
    assert body["data"]["reverseOrderAfterWindow"]["code"] == "REFUND_WINDOW_OPEN"
    # after it: reversed (no release yet: only the lots stop)
    await orders.settle_order(order.id)
    body = await gql(client, REVERSE, {"id": gid, "key": "k1"}, admin)
    res = body["data"]["reverseOrderAfterWindow"]
    assert res["__typename"] == "ReverseOrderSuccess"
    assert (res["lotsCancelled"], res["voucherClawedBack"], res["platformLossFen"]) == (2, 0, 0)
