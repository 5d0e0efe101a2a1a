"""Orders through GraphQL: typed errors, owner-only reads, refunds by the store."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.domain import orders
from app.models.orders import Order
from app.models.users import Role
from app.services import checkout
from tests.factories import give_vouchers, make_merchant, make_user
from tests.helpers import gql, token_for

CREATE = """mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename
  ... on CreateOrderSuccess { order { id status amountFen discountFen merchant { name } }
                              payParams }
  ... on OrderError { code field message } } }"""
WALLET = "{ wallet { vouchersFen vouchersHeldFen pointsPending pointsActive goldCoins } }"


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


async def test_create_pay_and_read_back(client, db):
    consumer, merchant = await make_user(), await make_merchant(discount_bps=1500)
    token = await token_for(consumer.id, "consumer")
    await give_vouchers(consumer.id, 2_000)
    res = await gql(
        client,
        CREATE,
        {
            "i": {
                "merchantId": gid("Merchant", merchant.id),
                "amountFen": 12_345,
                "voucherFen": 2_000,
                "idempotencyKey": "k1",
            }
        },
        token,
    )
    created = res["data"]["createOrder"]
    assert created["__typename"] == "CreateOrderSuccess", created
    assert created["order"]["discountFen"] == 1_852  # round_half_up(12345 * 15%)
    assert created["order"]["merchant"]["name"] == merchant.name
    wallet = (await gql(client, WALLET, token=token))["data"]["wallet"]
    assert (wallet["vouchersFen"], wallet["vouchersHeldFen"]) == (0, 2_000)
    order = await Order.get(consumer_id=consumer.id)
    await orders.mark_paid(
        order.id, channel=order.channel, channel_txn_id="t1", amount_fen=order.cash_fen
    )
    wallet = (await gql(client, WALLET, token=token))["data"]["wallet"]
    assert wallet["vouchersHeldFen"] == 0 and wallet["pointsPending"] > 0
    mine = await gql(
        client, "{ myOrders(first: 5) { totalCount edges { node { status } } } }", token=token
    )
    assert mine["data"]["myOrders"]["totalCount"] == 1
    assert mine["data"]["myOrders"]["edges"][0]["node"]["status"] == "PAID"
    lots = await gql(client, "{ pointLots { edges { node { points status } } } }", token=token)
    assert lots["data"]["pointLots"]["edges"][0]["node"]["status"] == "PENDING"
    entries = await gql(
        client,
        "{ ledgerEntries { totalCount edges { node { kind postings {"
        " source destination asset amount } } } } }",
        token=token,
    )
    kinds = {e["node"]["kind"] for e in entries["data"]["ledgerEntries"]["edges"]}
    assert {"order_paid", "voucher_hold"} <= kinds


async def test_typed_errors_change_nothing(client, db):
    consumer, merchant = await make_user(), await make_merchant()
    token = await token_for(consumer.id, "consumer")
    cases = [
        ({"merchantId": gid("Order", merchant.id), "amountFen": 100}, "INVALID", "merchantId"),
        (
            {"merchantId": gid("Merchant", merchant.id), "amountFen": 0},
            "AMOUNT_INVALID",
            "amountFen",
        ),
        (
            {"merchantId": gid("Merchant", merchant.id), "amountFen": 100, "voucherFen": 50},
            "VOUCHER_INSUFFICIENT",
            "voucherFen",
        ),
        (
            {"merchantId": gid("Merchant", 10**9), "amountFen": 100},
            "MERCHANT_UNAVAILABLE",
            "merchantId",
        ),
    ]
    for i, (inp, code, field) in enumerate(cases):
        res = await gql(client, CREATE, {"i": {**inp, "idempotencyKey": f"e{i}"}}, token)
        err = res["data"]["createOrder"]
        assert (err["code"], err["field"]) == (code, field), (inp, err)
    # a malformed ID is the mutation's typed error too, like an ID of another type
    for bad in ("garbage", "", gid("Order", 1)):
        res = await gql(
            client,
            CREATE,
            {"i": {"merchantId": bad, "amountFen": 100, "idempotencyKey": "g"}},
            token,
        )
        err = res["data"]["createOrder"]
        assert (err["__typename"], err["code"], err["field"]) == (
            "OrderError",
            "INVALID",
            "merchantId",
        ), bad
    assert await Order.all().count() == 0


async def test_other_users_order_is_invisible_and_unrefundable(client, db):
    alice, bob = await make_user(), await make_user()
    merchant = await make_merchant()
    other_store = await make_merchant()
    order = await checkout.create_order(
        consumer_id=alice.id, merchant_id=merchant.id, amount_fen=1_000, idempotency_key="a"
    )
    await orders.mark_paid(order.id, channel=order.channel, channel_txn_id="t", amount_fen=1_000)
    bob_token = await token_for(bob.id, "consumer")
    res = await gql(
        client,
        "query($id: ID!) { order(id: $id) { id } }",
        {"id": gid("Order", order.id)},
        bob_token,
    )
    assert res["data"]["order"] is None
    # the owner of another store cannot refund it
    other_owner = await token_for(other_store.owner_id, Role.MERCHANT_OWNER.value)
    refund = """mutation($o: ID!) { refundOrder(orderId: $o, amountFen: 100, refundKey: "r") {
      __typename ... on OrderError { code field } } }"""
    res = await gql(client, refund, {"o": gid("Order", order.id)}, other_owner)
    assert res["data"]["refundOrder"] == {
        "__typename": "OrderError",
        "code": "NOT_FOUND",
        "field": "orderId",
    }
    # the store itself can
    owner = await token_for(merchant.owner_id, Role.MERCHANT_OWNER.value)
    ok = """mutation($o: ID!) { refundOrder(orderId: $o, amountFen: 100, refundKey: "r") {
      __typename ... on RefundOrderSuccess { amountFen order { status refundedFen } } } }"""
    res = await gql(client, ok, {"o": gid("Order", order.id)}, owner)
    assert res["data"]["refundOrder"]["order"] == {
        "status": "PARTIALLY_REFUNDED",
        "refundedFen": 100,
    }


async def test_admin_account_query_and_consumer_refused(client, db):
    consumer, merchant = await make_user(), await make_merchant()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=1_000, idempotency_key="a"
    )
    await orders.mark_paid(order.id, channel=order.channel, channel_txn_id="t", amount_fen=1_000)
    q = "query($n: String!) { account(name: $n) { name asset balance } }"
    name = f"merchant:{merchant.id}:payable"
    res = await gql(
        client, q, {"n": name}, await token_for(consumer.id, "consumer"), expect_errors=True
    )
    assert res["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    admin = await make_user(role=Role.ADMIN)
    res = await gql(client, q, {"n": name}, await token_for(admin.id, "admin"))
    assert res["data"]["account"] == [{"name": name, "asset": "CNY", "balance": 900}]
