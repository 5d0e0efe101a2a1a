"""Agents' monthly statements (SPEC §7): figures read from the ledger, owner-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.api.graphql.core.ids import encode_id
from app.domain import orders
from app.domain.agents import SHANGHAI, month_bounds
from app.domain.settlement import SettlementPlan
from app.models.merchants import Agent
from app.models.orders import Order
from app.models.users import Role
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

STATEMENT = """query($id: ID!, $month: String!) { agentStatement(agentId: $id, month: $month) {
  agentId level regionCode month ordersSettled earnedFen payableFen pendingFen } }"""


def agency_share(order: Order, agent_id: int) -> int:
    """The agency's part of one order after its refunds, from the order's own plan."""
    plan = SettlementPlan.from_json(order.settlement or {})
    left = plan.refunded_shares(order.refunded_fen)[1:]
    return sum(
        p.fen - gone
        for p, gone in zip(plan.parties, left, strict=True)
        if p.kind == "agent" and int(p.id) == agent_id
    )


async def test_a_district_agent_reads_its_month_from_the_ledger(client):
    agent_user = await make_user(Role.AGENT)
    district = await Agent.create(user=agent_user, level="district", region_code="310101")
    shop = await make_merchant(region_code="310101", discount_bps=2000)
    elsewhere = await make_merchant(region_code="440305", discount_bps=2000)  # not its region
    buyer = await make_user()
    # given two settled orders in the region (one partly refunded first), one settled
    # elsewhere, and one still inside its refund window
    a = await paid_order(buyer, shop, 10_000)
    b = await paid_order(buyer, shop, 7_300)
    await orders.refund_order(b.id, 2_000, refund_key="r-b")
    c = await paid_order(buyer, elsewhere, 5_000)
    d = await paid_order(buyer, shop, 3_000)
    for o in (a, b, c):
        assert await orders.settle_order(o.id) == 1
    a, b, d = [await Order.get(id=o.id) for o in (a, b, d)]
    month = datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m")
    # when the agency asks for this month
    token = await token_for(agent_user.id, "agent")
    gid = str(encode_id("Agent", district.id))
    body = await gql(client, STATEMENT, {"id": gid, "month": month}, token)
    s = body["data"]["agentStatement"]
    # then it shows the two settled orders of its region, their shares after refunds,
    # and the unsettled one as pending
    earned = agency_share(a, district.id) + agency_share(b, district.id)
    assert earned > 0 and agency_share(d, district.id) > 0
    assert s == {
        "agentId": gid, "level": "district", "regionCode": "310101", "month": month,
        "ordersSettled": 2, "earnedFen": earned, "payableFen": earned,
        "pendingFen": agency_share(d, district.id),
    }  # fmt: skip
    # and last month shows nothing earned
    start, _ = month_bounds(month)
    last = (start - timedelta(days=1)).astimezone(SHANGHAI).strftime("%Y-%m")
    body = await gql(client, STATEMENT, {"id": gid, "month": last}, token)
    assert (body["data"]["agentStatement"]["ordersSettled"],
            body["data"]["agentStatement"]["earnedFen"]) == (0, 0)  # fmt: skip


async def test_statements_are_the_agencys_own(client):
    mine = await make_user(Role.AGENT)
    theirs = await Agent.create(
        user=await make_user(Role.AGENT), level="city", region_code="310100"
    )
    await Agent.create(user=mine, level="city", region_code="320100")
    gid = str(encode_id("Agent", theirs.id))
    # another agency's statement is as if it did not exist
    body = await gql(client, STATEMENT, {"id": gid, "month": "2026-11"},
                     await token_for(mine.id, "agent"), expect_errors=True)  # fmt: skip
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # a consumer may not ask at all; an admin may read any
    consumer = await token_for((await make_user()).id, "consumer")
    body = await gql(client, STATEMENT, {"id": gid, "month": "2026-11"}, consumer,
                     expect_errors=True)  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    admin = await token_for((await make_user(Role.ADMIN)).id, "admin")
    body = await gql(client, STATEMENT, {"id": gid, "month": "2026-11"}, admin)
    assert body["data"]["agentStatement"]["regionCode"] == "310100"


async def test_bad_month_and_wrong_id_type_are_typed_errors(client):
    admin = await token_for((await make_user(Role.ADMIN)).id, "admin")
    agency = await Agent.create(
        user=await make_user(Role.AGENT), level="city", region_code="310100"
    )
    gid = str(encode_id("Agent", agency.id))
    for month in ("2026-13", "2026-1", "November", ""):
        body = await gql(client, STATEMENT, {"id": gid, "month": month}, admin,
                         expect_errors=True)  # fmt: skip
        err = body["errors"][0]["extensions"]
        assert (err["code"], err.get("field")) == ("INVALID", "month"), month
    body = await gql(client, STATEMENT, {"id": str(encode_id("Merchant", 1)), "month": "2026-11"},
                     admin, expect_errors=True)  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
