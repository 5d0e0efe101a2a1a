"""Discovery over GraphQL: nearby (public), heat map, dashboard, boosts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.api.graphql.core.ids import encode_id
from app.domain.ledger import Entry, Post, acct, post
from app.domain.policy import get_policy
from app.infra.coords import convert, haversine_m
from app.models.ledger import Asset
from app.models.merchants import MerchantStaff
from app.models.orders import HolderKind, LotStatus, PointLot
from app.models.users import Role
from tests.geo.factories import CENTRE, clear_geo_keys, merchant, offset, paid_order, refund, user
from tests.helpers import gql, token_for


@pytest.fixture(autouse=True)
async def geo_keys(db):
    await clear_geo_keys()
    yield


NEARBY = """
query($loc: LocationInput!, $first: Int, $after: String, $out: CoordSystem!) {
  nearbyMerchants(location: $loc, first: $first, after: $after, outputCoordSystem: $out) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { merchantId name lat lng coordSystem distanceM score
                   scoreParts { distance discount heat rating boost }
                   merchant { id name discountBps } } }
  }
}"""


async def test_nearby_is_public_and_converts_in_and_out(client):
    a = await merchant(at=offset(*CENTRE, north_m=300), name="a")
    b = await merchant(at=offset(*CENTRE, north_m=900), name="b")
    await merchant(at=offset(*CENTRE, north_m=5000), name="far")
    wlat, wlng = convert(*CENTRE, "GCJ02", "WGS84")
    body = await gql(
        client,
        NEARBY,
        {"loc": {"lat": wlat, "lng": wlng, "coordSystem": "WGS84"}, "first": 1, "out": "BD09"},
    )
    conn = body["data"]["nearbyMerchants"]
    assert conn["totalCount"] == 2 and conn["pageInfo"]["hasNextPage"]
    node = conn["edges"][0]["node"]
    assert node["merchantId"] == str(encode_id("Merchant", a.id)) and node["coordSystem"] == "BD09"
    want = convert(float(a.lat), float(a.lng), "GCJ02", "BD09")
    assert haversine_m(node["lat"], node["lng"], *want) < 0.01
    assert abs(node["distanceM"] - 300) < 1.0
    assert node["merchant"] == {
        "id": node["merchantId"],
        "name": "a",
        "discountBps": a.discount_bps,
    }
    parts = node["scoreParts"]
    assert abs(sum(parts.values()) - node["score"]) < 1e-5
    body = await gql(
        client,
        NEARBY,
        {
            "loc": {"lat": wlat, "lng": wlng, "coordSystem": "WGS84"},
            "first": 1,
            "after": conn["pageInfo"]["endCursor"],
            "out": "GCJ02",
        },
    )
    page2 = body["data"]["nearbyMerchants"]
    assert [e["node"]["name"] for e in page2["edges"]] == ["b"]
    assert not page2["pageInfo"]["hasNextPage"]
    assert b.id


async def test_nearby_refuses_a_bad_location(client):
    body = await gql(
        client,
        NEARBY,
        {"loc": {"lat": 95, "lng": 121, "coordSystem": "GCJ02"}, "out": "GCJ02"},
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_LOCATION"


async def _snapshots() -> list[str]:
    from app.infra.redis import get_redis

    return [k async for k in get_redis().scan_iter(match="geo:v1:snap:*")]


async def test_nearby_keeps_a_scroll_snapshot_only_for_a_query_that_selects_cursors(client):
    ms = [await merchant(at=offset(*CENTRE, north_m=100 * i), name=f"m{i}") for i in range(1, 6)]
    loc = {"lat": CENTRE[0], "lng": CENTRE[1], "coordSystem": "GCJ02"}
    token = await token_for((await user()).id, "consumer")  # (only a signed-in scroll is kept)
    # no cursor selected: nothing to scroll from, so no snapshot is stored
    body = await gql(
        client,
        "query($loc: LocationInput!) { nearbyMerchants(location: $loc, first: 2) "
        "{ totalCount edges { node { name } } } }",
        {"loc": loc},
        token,
    )
    assert body["data"]["nearbyMerchants"]["totalCount"] == 5
    assert await _snapshots() == []
    # a cursor selected through a fragment: the snapshot is stored and scrolling works
    q = """
    fragment Page on NearbyMerchantConnection { pageInfo { hasNextPage endCursor } }
    query($loc: LocationInput!, $after: String) {
      nearbyMerchants(location: $loc, first: 2, after: $after) {
        ...Page edges { node { name } } } }"""
    first = (await gql(client, q, {"loc": loc}, token))["data"]["nearbyMerchants"]
    assert len(await _snapshots()) == 1
    # meanwhile a merchant opens right here: the scroll keeps the first page's order
    await merchant(at=CENTRE, name="newcomer", discount_bps=2000)
    after = first["pageInfo"]["endCursor"]
    second = (await gql(client, q, {"loc": loc, "after": after}, token))["data"]["nearbyMerchants"]
    names = [e["node"]["name"] for e in first["edges"] + second["edges"]]
    assert names == [m.name for m in ms[:4]]
    assert second["pageInfo"]["hasNextPage"]


STATS = """
query($id: ID!, $from: Date!, $to: Date!) {
  merchantStats(merchantId: $id, from: $from, to: $to) {
    salesFen orders customers newCustomers returningCustomers repurchaseRateBps
    pointsIssued vouchersRedeemedFen daily { day salesFen orders customers }
  }
}"""


async def test_dashboard_matches_hand_counted_orders(client):
    owner = await user(Role.MERCHANT_OWNER)
    m = await merchant(owner)
    other = await merchant()
    alice, bob, carol = await user(), await user(), await user()
    d1 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 on the 10th, Shanghai
    # before the range: alice already came once
    await paid_order(m, alice, 1_000, d1 - timedelta(days=5))
    # in the range (10th..11th, Shanghai days)
    o1 = await paid_order(m, alice, 2_000, d1, voucher_fen=500)
    o2 = await paid_order(m, bob, 3_000, d1 + timedelta(hours=1))
    o3 = await paid_order(m, bob, 4_000, d1 + timedelta(days=1))
    o4 = await paid_order(m, carol, 1_500, d1 + timedelta(days=1, hours=2))
    await refund(o3, 1_000)  # partial: counts, net 3,000
    await refund(o4, 1_500)  # full: does not count
    await paid_order(m, carol, 9_999, datetime(2026, 11, 11, 16, 30, tzinfo=UTC))  # 12th 00:30
    await paid_order(other, carol, 7_000, d1)  # another merchant
    for o, pts in ((o1, 150), (o2, 300), (o3, 400)):
        await PointLot.create(
            order=o,
            holder_kind=HolderKind.CONSUMER,
            holder_id=o.consumer_id,
            pool="consumer",
            points=pts,
            activate_on=d1.date(),
        )
    await PointLot.create(
        order=o4,
        holder_kind=HolderKind.CONSUMER,
        holder_id=carol.id,
        pool="consumer",
        points=999,
        activate_on=d1.date(),
        status=LotStatus.CANCELLED,
    )
    token = await token_for(owner.id, "merchant_owner")
    body = await gql(
        client,
        STATS,
        {"id": str(encode_id("Merchant", m.id)), "from": "2026-11-10", "to": "2026-11-11"},
        token=token,
    )
    s = body["data"]["merchantStats"]
    # hand count: o1 2,000 + o2 3,000 + o3 (4,000 - 1,000) = 8,000 over 3 orders
    assert s["salesFen"] == 8_000 and s["orders"] == 3
    assert s["customers"] == 2  # alice, bob (carol's only order was fully refunded)
    assert (s["newCustomers"], s["returningCustomers"]) == (1, 1)  # bob new, alice returning
    assert s["repurchaseRateBps"] == 5_000  # bob ordered twice, alice once
    assert s["pointsIssued"] == 850 and s["vouchersRedeemedFen"] == 500
    assert s["daily"] == [
        {"day": "2026-11-10", "salesFen": 5_000, "orders": 2, "customers": 2},
        {"day": "2026-11-11", "salesFen": 3_000, "orders": 1, "customers": 1},
    ]
    # staff of the merchant may read it too
    staff = await user(Role.MERCHANT_STAFF)
    await MerchantStaff.create(merchant=m, user=staff)
    body = await gql(
        client,
        STATS,
        {"id": str(encode_id("Merchant", m.id)), "from": "2026-11-10", "to": "2026-11-11"},
        token=await token_for(staff.id, "merchant_staff"),
    )
    assert body["data"]["merchantStats"]["orders"] == 3


async def test_a_merchant_cannot_read_another_merchants_stats(client):
    owner = await user(Role.MERCHANT_OWNER)
    await merchant(owner)
    other = await merchant()
    body = await gql(
        client,
        STATS,
        {"id": str(encode_id("Merchant", other.id)), "from": "2026-11-10", "to": "2026-11-11"},
        token=await token_for(owner.id, "merchant_owner"),
        expect_errors=True,
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    # nor can a consumer
    c = await user()
    body = await gql(
        client,
        STATS,
        {"id": str(encode_id("Merchant", other.id)), "from": "2026-11-10", "to": "2026-11-11"},
        token=await token_for(c.id, "consumer"),
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


HEAT = """
query($since: DateTime!, $until: DateTime, $res: Int!) {
  consumptionHeatmap(bbox: {south: 31.0, west: 121.2, north: 31.5, east: 121.8},
                     since: $since, until: $until, resolution: $res) {
    totalOrders totalAmountFen cells { cell orders amountFen }
  }
}"""


async def test_heatmap_for_owners_and_admins_not_consumers(client):
    m = await merchant(at=CENTRE)
    c = await user()
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    await paid_order(m, c, 1_200, t0 + timedelta(hours=3))
    await paid_order(m, c, 800, t0 + timedelta(hours=4))
    v = {"since": t0.isoformat(), "until": (t0 + timedelta(days=1)).isoformat(), "res": 8}
    admin = await user(Role.ADMIN)
    body = await gql(client, HEAT, v, token=await token_for(admin.id, "admin"))
    h = body["data"]["consumptionHeatmap"]
    assert (h["totalOrders"], h["totalAmountFen"]) == (2, 2_000)
    assert sum(x["orders"] for x in h["cells"]) == 2
    owner_token = await token_for(m.owner_id, "merchant_owner")
    assert (await gql(client, HEAT, v, token=owner_token))["data"]["consumptionHeatmap"]
    body = await gql(client, HEAT, {**v, "res": 9}, token=owner_token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    body = await gql(client, HEAT, v, token=await token_for(c.id, "consumer"), expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


BOOST = """
mutation($points: Int!, $hours: Int!, $key: String!) {
  boostExposure(points: $points, hours: $hours, idempotencyKey: $key) {
    __typename
    ... on ExposureBoost { hours trafficPointsLeft }
    ... on DiscoveryError { code field message }
  }
}"""


async def test_boost_mutation_spends_points_and_refuses_overdraft(client):
    per_hour = get_policy().traffic.boost_points_per_hour
    owner = await user(Role.MERCHANT_OWNER)
    m = await merchant(owner)
    token = await token_for(owner.id, "merchant_owner")
    body = await gql(client, BOOST, {"points": per_hour, "hours": 1, "key": "b1"}, token=token)
    err = body["data"]["boostExposure"]
    assert err["__typename"] == "DiscoveryError" and err["code"] == "OVERDRAFT"
    await post(
        Entry(
            "test_fund",
            f"merchant:{m.id}",
            [Post(acct.issuer(Asset.TRAFFIC_POINTS), acct.merchant_traffic_points(m.id), per_hour)],
        )
    )
    body = await gql(client, BOOST, {"points": per_hour, "hours": 1, "key": "b1"}, token=token)
    ok = body["data"]["boostExposure"]
    assert ok == {"__typename": "ExposureBoost", "hours": 1, "trafficPointsLeft": 0}
