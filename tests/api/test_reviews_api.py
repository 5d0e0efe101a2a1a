"""Reviews through GraphQL: a consumer reviews a settled order; anyone reads them."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.domain import merchants, orders
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

REVIEW = (
    "mutation($o: ID!, $s: Int!, $t: String) { reviewOrder(orderId: $o, stars: $s, text: $t) {"
    " __typename ... on Review { id stars text merchantId } ... on ReviewError { code field } } }"
)
READ = (
    "query($m: ID!, $after: String) { merchantReviews(merchantId: $m, first: 2, after: $after) {"
    " totalCount pageInfo { hasNextPage endCursor } edges { node { stars text } } } }"
)


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


async def test_review_a_settled_order_and_read_the_stores_reviews(client, db):
    consumer, merchant = await make_user(), await make_merchant()
    token = await token_for(consumer.id)
    placed = [await paid_order(consumer, merchant, 1_000) for _ in range(3)]
    first = {"o": gid("Order", placed[0].id), "s": 5, "t": "great"}
    # inside the refund window: refused with its code
    early = (await gql(client, REVIEW, first, token))["data"]["reviewOrder"]
    assert (early["code"], early["field"]) == ("ORDER_NOT_SETTLED", "orderId")
    for o in placed:
        await orders.settle_order(o.id)
    for o, stars in zip(placed, (5, 4, 2), strict=True):
        vars_ = {"o": gid("Order", o.id), "s": stars, "t": f"{stars} stars"}
        done = (await gql(client, REVIEW, vars_, token))["data"]["reviewOrder"]
        assert (done["__typename"], done["merchantId"]) == ("Review", gid("Merchant", merchant.id))
    twice = (await gql(client, REVIEW, {**first, "s": 1}, token))["data"]["reviewOrder"]
    assert twice["code"] == "ALREADY_REVIEWED"
    # someone else cannot review it
    stranger = await token_for((await make_user()).id)
    other = (await gql(client, REVIEW, first, stranger))["data"]["reviewOrder"]
    assert (other["code"], other["field"]) == ("NOT_FOUND", "orderId")
    # anyone reads a store's reviews, newest first, page by page
    page = (await gql(client, READ, {"m": gid("Merchant", merchant.id)}))["data"]
    reviews = page["merchantReviews"]
    assert reviews["totalCount"] == 3
    assert [e["node"]["stars"] for e in reviews["edges"]] == [2, 4]
    after = {"m": gid("Merchant", merchant.id), "after": reviews["pageInfo"]["endCursor"]}
    rest = (await gql(client, READ, after))["data"]["merchantReviews"]
    assert [e["node"]["text"] for e in rest["edges"]] == ["5 stars"]
    # and the store's rating shows them
    card = "query($m: ID!) { node(id: $m) { ... on Merchant { rating reviewCount } } }"
    shown = (await gql(client, card, {"m": gid("Merchant", merchant.id)}))["data"]["node"]
    assert shown["reviewCount"] == 3 and shown["rating"] != 4.5
    # a suspended store's reviews are not public
    await merchants.suspend_merchant(merchant.id)
    hidden = await gql(client, READ, {"m": gid("Merchant", merchant.id)}, expect_errors=True)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # an anonymous caller cannot review
    anon = await gql(client, REVIEW, first, expect_errors=True)
    assert anon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
