"""Cost-based limits per partner app: every partner answer carries `extensions.cost` in
Shopify's shape; a burst drains the app's bucket to THROTTLED, and the bucket refills at
its restore rate as reported."""

from __future__ import annotations

import asyncio
import time

from graphql import parse

from app.api.graphql.core.cost import DocumentCost, actual_cost
from app.api.graphql.schema import schema
from app.domain import partners
from app.domain.partners import SCOPES
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for

# 1 + 5 × (edges 1 + node (1 + id 1)) = 16 asked; with 2 merchants 1 + 2 × 3 = 7 spent
LIST = "query List { merchants(first: 5) { edges { node { id } } } }"
REQUESTED, ACTUAL = 16, 7


async def _app(capacity: int, rate: int):
    a = await make_merchant(region_code="310101")
    await make_merchant(region_code="310104")
    app = (
        await partners.create_app(
            "Metered", SCOPES, region_codes=["310000"], cost_capacity=capacity,
            cost_restore_rate=rate,
        )
    ).app  # fmt: skip
    return app, a, issue_access(app.id, Kind.PARTNER, scopes=SCOPES, ttl_s=600)


async def test_every_partner_answer_reports_its_cost(client):
    _app_row, _m, token = await _app(capacity=100, rate=10)
    body = await gql(client, LIST, token=token)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == REQUESTED
    assert cost["actualQueryCost"] == ACTUAL
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (100, 10)
    # the unspent 9 came back: 100 - 7, plus what restored meanwhile (capped at the top)
    assert 100 - ACTUAL <= status["currentlyAvailable"] <= 100
    # a user's answer carries no cost block
    user = await token_for((await make_user()).id)
    assert "extensions" not in await gql(client, "{ me { id } }", token=user)


async def test_a_burst_drains_the_bucket_then_it_refills_as_reported(client):
    capacity, rate = 40, 20
    _app_row, _m, token = await _app(capacity=capacity, rate=rate)
    seen: list[dict] = []
    throttled = None
    for _ in range(20):
        body = await gql(client, LIST, token=token, expect_errors=True)
        if body.get("errors"):
            throttled = body
            break
        seen.append(body["extensions"]["cost"])
    assert throttled is not None, "the burst was never throttled"
    assert len(seen) >= 3  # each request spends 7 net; the bucket held 40
    levels = [c["throttleStatus"]["currentlyAvailable"] for c in seen]
    assert levels == sorted(levels, reverse=True)  # draining
    error = throttled["errors"][0]
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["retryAfter"] >= 1
    assert throttled["data"] is None
    cost = throttled["extensions"]["cost"]
    assert cost["requestedQueryCost"] == REQUESTED
    assert cost["actualQueryCost"] is None
    left = cost["throttleStatus"]["currentlyAvailable"]
    assert left < REQUESTED
    # a refused request takes nothing: asking again at once reports the same level or more
    again = await gql(client, LIST, token=token, expect_errors=True)
    if again.get("errors"):
        assert again["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] >= left
    # after waiting, the bucket has refilled at the restore rate, as reported
    started = time.monotonic()
    await asyncio.sleep(1.0)
    body = await gql(client, LIST, token=token)
    elapsed = time.monotonic() - started
    now = body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    low = min(capacity, left + int(1.0 * rate)) - ACTUAL
    high = min(capacity, left + int(elapsed * rate) + 1) - ACTUAL
    assert low - 1 <= now <= high, (left, now, elapsed)


async def test_a_document_costlier_than_the_bucket_is_too_complex(client):
    _app_row, _m, token = await _app(capacity=10, rate=1)
    body = await gql(client, LIST, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 10


def _actual(query: str, data: dict) -> tuple[int, int]:
    document = parse(query)
    requested = DocumentCost(schema._schema, document).measure({}).cost
    return requested, actual_cost(schema._schema, document, None, data)


def test_the_actual_cost_follows_what_was_returned():
    # a page of 5 asked, 2 returned
    two = {"merchants": {"edges": [{"node": {"id": "a"}}, {"node": {"id": "b"}}]}}
    assert _actual(LIST, two) == (REQUESTED, ACTUAL)
    # none returned: the field alone
    assert _actual(LIST, {"merchants": {"edges": []}}) == (REQUESTED, 1)
    # a null field counts 1 whatever it selects; aliases and fragments are read through
    query = """query { a: merchant(id: "x") { ...F } b: merchant(id: "y") { ...F } }
               fragment F on Merchant { id name }"""
    assert _actual(query, {"a": {"id": "1", "name": "n"}, "b": None}) == (6, 4)
    # never more than asked
    many = {"merchants": {"edges": [{"node": {"id": str(i)}} for i in range(50)]}}
    assert _actual(LIST, many)[1] <= REQUESTED
