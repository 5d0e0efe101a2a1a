"""The mall through GraphQL: admins manage it, consumers redeem, admins fulfil or void."""

from __future__ import annotations

import pytest
from strawberry.relay import GlobalID

from app.domain.ledger import acct, balance_of
from app.domain.policy import clear_policy_cache
from app.models.users import Role
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

_ITEM = "... on MallItem { id name price stock active asset } ... on MallError { code field }"
CREATE = "mutation($i: CreateMallItemInput!) { createMallItem(input: $i) { ITEM } }"
UPDATE = "mutation($i: UpdateMallItemInput!) { updateMallItem(input: $i) { ITEM } }"
DEACTIVATE = "mutation($id: ID!) { deactivateMallItem(itemId: $id) { ITEM } }"
ITEMS = "{ mallItems { totalCount edges { node { id name price stock } } } }"
_REDEMPTION = (
    "... on MallRedemption { id status quantity total unitPrice itemId } "
    "... on MallError { code field message }"
)
REDEEM = (
    "mutation($id: ID!, $q: Int!, $k: String!) "
    "{ redeemItem(itemId: $id, quantity: $q, idempotencyKey: $k) { REDEMPTION } }"
)
FULFIL = "mutation($id: ID!) { fulfilRedemption(redemptionId: $id) { REDEMPTION } }"
VOID = "mutation($id: ID!) { voidRedemption(redemptionId: $id) { REDEMPTION } }"
CREATE, UPDATE, DEACTIVATE = (q.replace("ITEM", _ITEM) for q in (CREATE, UPDATE, DEACTIVATE))
REDEEM, FULFIL, VOID = (q.replace("REDEMPTION", _REDEMPTION) for q in (REDEEM, FULFIL, VOID))


@pytest.fixture
async def wodian(settings, monkeypatch):
    monkeypatch.setattr(settings, "policy", "wodian")
    clear_policy_cache()
    yield
    clear_policy_cache()


async def test_coins_earned_by_paying_are_spent_in_the_mall(client, db, wodian):
    admin = await token_for((await make_user(Role.ADMIN)).id)
    consumer = await make_user()
    token = await token_for(consumer.id)
    # the consumer earns gold coins by paying: 1% of 3,000.00 yuan = 30.00 coins
    await paid_order(consumer, await make_merchant(discount_bps=2000), 300_000)
    coins = acct.consumer_gold_coins(consumer.id)
    assert await balance_of(coins) == 3_000
    # an admin stocks the mall; the catalogue is public
    made = await gql(client, CREATE, {"i": {"name": "Mug", "price": 1_200, "stock": 2}}, admin)
    item = made["data"]["createMallItem"]
    assert (item["asset"], item["stock"], item["active"]) == ("GOLD_COINS", 2, True)
    listed = (await gql(client, ITEMS))["data"]["mallItems"]
    assert [e["node"]["name"] for e in listed["edges"]] == ["Mug"]
    # the consumer redeems two: held, not yet spent
    vars_ = {"id": item["id"], "q": 2, "k": "mug-1"}
    r = (await gql(client, REDEEM, vars_, token))["data"]["redeemItem"]
    assert (r["status"], r["total"], r["itemId"]) == ("HELD", 2_400, item["id"])
    assert (await gql(client, REDEEM, vars_, token))["data"]["redeemItem"]["id"] == r["id"]
    assert await balance_of(coins) == 600
    assert await balance_of(acct.held(coins)) == 2_400
    # sold out: the next one is refused with its code, and the list shows none left
    again = await gql(client, REDEEM, {"id": item["id"], "q": 1, "k": "mug-2"}, token)
    assert again["data"]["redeemItem"]["code"] == "OUT_OF_STOCK"
    assert (await gql(client, ITEMS))["data"]["mallItems"]["edges"][0]["node"]["stock"] == 0
    # only an admin fulfils; the consumer cannot
    refused = await gql(client, FULFIL, {"id": r["id"]}, token, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    done = (await gql(client, FULFIL, {"id": r["id"]}, admin))["data"]["fulfilRedemption"]
    assert done["status"] == "FULFILLED"
    assert await balance_of(acct.held(coins)) == 0
    # voiding it now is refused with its code
    late = (await gql(client, VOID, {"id": r["id"]}, admin))["data"]["voidRedemption"]
    assert (late["code"], late["field"]) == ("INVALID_STATE", "redemptionId")


async def test_void_restock_deactivate_and_typed_refusals(client, db, wodian):
    admin = await token_for((await make_user(Role.ADMIN)).id)
    consumer = await make_user()
    token = await token_for(consumer.id)
    await paid_order(consumer, await make_merchant(discount_bps=2000), 100_000)  # 10.00 coins
    item = (await gql(client, CREATE, {"i": {"name": "Pen", "price": 400, "stock": 1}}, admin))[
        "data"
    ]["createMallItem"]
    poor = await gql(client, REDEEM, {"id": item["id"], "q": 1, "k": "a"}, token)
    assert poor["data"]["redeemItem"]["id"]
    short = await gql(client, REDEEM, {"id": item["id"], "q": 1, "k": "b"}, token)
    assert short["data"]["redeemItem"]["code"] == "OUT_OF_STOCK"
    # an admin voids the first: coins and stock come back
    voided = (await gql(client, VOID, {"id": poor["data"]["redeemItem"]["id"]}, admin))["data"]
    assert voided["voidRedemption"]["status"] == "VOIDED"
    assert await balance_of(acct.consumer_gold_coins(consumer.id)) == 1_000
    # restocked and repriced beyond the wallet: insufficient balance, typed
    upd = {"i": {"itemId": item["id"], "stockChange": 5, "price": 600}}
    assert (await gql(client, UPDATE, upd, admin))["data"]["updateMallItem"]["stock"] == 6
    dear = await gql(client, REDEEM, {"id": item["id"], "q": 2, "k": "c"}, token)
    assert (dear["data"]["redeemItem"]["code"], dear["data"]["redeemItem"]["field"]) == (
        "INSUFFICIENT_BALANCE",
        "quantity",
    )
    # off sale: gone from the list, and refused
    off = (await gql(client, DEACTIVATE, {"id": item["id"]}, admin))["data"]["deactivateMallItem"]
    assert off["active"] is False
    assert (await gql(client, ITEMS))["data"]["mallItems"]["totalCount"] == 0
    gone = await gql(client, REDEEM, {"id": item["id"], "q": 1, "k": "d"}, token)
    assert gone["data"]["redeemItem"]["code"] == "ITEM_UNAVAILABLE"
    # a wrong kind of ID is the field's typed error
    wrong = await gql(client, REDEEM, {"id": str(GlobalID("Order", "1")), "q": 1, "k": "e"}, token)
    assert (wrong["data"]["redeemItem"]["code"], wrong["data"]["redeemItem"]["field"]) == (
        "INVALID",
        "itemId",
    )
    # a consumer cannot manage the catalogue
    denied = await gql(
        client, CREATE, {"i": {"name": "x", "price": 1, "stock": 1}}, token, expect_errors=True
    )
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_no_mall_where_the_policy_has_none(client, db):
    # 众店 (the default preset) pays no gold coins: an empty catalogue, a typed refusal
    admin = await token_for((await make_user(Role.ADMIN)).id)
    assert (await gql(client, ITEMS))["data"]["mallItems"]["totalCount"] == 0
    made = await gql(client, CREATE, {"i": {"name": "x", "price": 1, "stock": 1}}, admin)
    assert made["data"]["createMallItem"]["code"] == "MALL_CLOSED"
