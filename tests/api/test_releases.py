"""Transparency through the API: pools, myReleases, lotProjection (SPEC §4, §10, §11)."""

from __future__ import annotations

import csv

from strawberry.relay import GlobalID

from app.domain.policy import clear_policy_cache
from app.models.users import User
from tests.domain.test_releases import GOLDEN, START, add_lot, first_release, fund, make_policy
from tests.helpers import gql, token_for

POOLS = """{ pools { name size sizeAtLastRelease growthSinceLastRelease growthThresholdBps
  releaseCount index earliestNextReleaseOn availableFen activePoints pointValueFen
  lastScaleFactor releases(first: 5) { totalCount edges { node { releaseNo trigger growth
  indexAfter scaleFactor paidFen valves } } } } }"""
MINE = """{ myReleases(first: 10) { totalCount edges { node { kind paidUnits voucherUnits
  formulaUnits indexMultiplier firstReleaseNo statusAfter lotId
  release { releaseNo growth scaleFactor indexAfter } } } } }"""
PROJECTION = """query($id: ID!, $g: Int!) { lotProjection(lotId: $id, growthBps: $g) {
  dependsOnFutureGrowth disclaimer growthBps totalUnits
  releases { releaseNo indexMultiplier units cumulativeUnits status } } }"""


async def test_pools_and_my_releases_explain_each_payment(client):
    # given a consumer whose 200-point lot was paid at the first release
    user = await User.create()
    policy = make_policy()
    await fund(10**9)
    lot = await add_lot(20_000, holder_id=user.id)
    await first_release(policy)
    token = await token_for(user.id, "consumer")
    # when they look at the pools
    body = await gql(client, POOLS, token=token)
    consumer = next(p for p in body["data"]["pools"] if p["name"] == "consumer")
    # then they see the size, index, funds and the release with its inputs
    assert consumer["releaseCount"] == 1 and consumer["index"] == "1.000000000000000000"
    assert consumer["growthThresholdBps"] == 1500
    assert consumer["availableFen"] == 10**9 - consumer["releases"]["edges"][0]["node"]["paidFen"]
    rel = consumer["releases"]["edges"][0]["node"]
    assert rel["releaseNo"] == 1 and rel["trigger"] == "growth" and rel["scaleFactor"] == "1"
    assert "payout_cap" in rel["valves"]
    assert consumer["earliestNextReleaseOn"] > str(START)
    # and their own payments, each with what produced it
    mine = (await gql(client, MINE, token=token))["data"]["myReleases"]
    assert mine["totalCount"] == 1
    node = mine["edges"][0]["node"]
    assert (node["paidUnits"], node["formulaUnits"], node["voucherUnits"]) == (100, 100, 100)
    assert node["indexMultiplier"] == "1.000000000000000000" and node["firstReleaseNo"] == 1
    assert node["lotId"] == str(GlobalID("PointLot", str(lot.id)))
    # another consumer sees none of it
    other = await User.create()
    mine = (await gql(client, MINE, token=await token_for(other.id, "consumer")))["data"]
    assert mine["myReleases"]["totalCount"] == 0


async def test_lot_projection_is_the_golden_schedule_and_says_it_depends_on_growth(
    client, settings, monkeypatch
):
    monkeypatch.setattr(settings, "policy", "zhongdian")
    clear_policy_cache()
    user = await User.create()
    lot = await add_lot(20_000, holder_id=user.id)
    token = await token_for(user.id, "consumer")
    gid = str(GlobalID("PointLot", str(lot.id)))
    body = await gql(client, PROJECTION, {"id": gid, "g": 1500}, token=token)
    proj = body["data"]["lotProjection"]
    assert proj["dependsOnFutureGrowth"] is True and "not a promise" in proj["disclaimer"]
    with open(GOLDEN, encoding="utf-8") as f:
        golden = list(csv.DictReader(f))
    got = [
        (r["releaseNo"], r["indexMultiplier"], r["units"], r["cumulativeUnits"])
        for r in proj["releases"]
    ]
    want = [
        (
            int(r["release_no"]),
            r["index_multiplier"],
            int(r["release_fen"]),
            int(r["cumulative_fen"]),
        )
        for r in golden
    ]
    assert got == want and proj["totalUnits"] == 100_000
    # with no growth at all the lot only gets 0.5% per release and expires at 40
    flat = (await gql(client, PROJECTION, {"id": gid, "g": 0}, token=token))["data"]
    assert flat["lotProjection"]["totalUnits"] == 40 * 100
    assert flat["lotProjection"]["releases"][-1]["status"] == "expired"
    # someone else's lot is not found
    stranger = await token_for((await User.create()).id, "consumer")
    body = await gql(client, PROJECTION, {"id": gid, "g": 1500}, token=stranger, expect_errors=True)
    assert body["errors"] and body["data"] is None
    clear_policy_cache()


async def test_pools_need_a_signed_in_user(client):
    body = await gql(client, "{ pools { name } }", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_wodian_pools_show_virtual_start(client, settings, monkeypatch):
    monkeypatch.setattr(settings, "policy", "wodian")
    clear_policy_cache()
    user = await User.create()
    await add_lot(10_000, pool="merchant", holder_id=4)
    body = await gql(
        client, "{ pools { name size pointValueFen } }", token=await token_for(user.id, "consumer")
    )
    sizes = {p["name"]: p["size"] for p in body["data"]["pools"]}
    assert sizes == {"consumer": 100_000_000, "merchant": 1_000_000_000 + 10_000}
    clear_policy_cache()


async def test_merchant_owner_sees_the_releases_of_their_store(client):
    from app.models.merchants import Merchant

    owner = await User.create(role="merchant_owner")
    m = await Merchant.create(
        owner=owner,
        name="m",
        category="food",
        lat=0,
        lng=0,
        region_code="310101",
        discount_bps=1000,
    )
    await fund(10**9, "merchant")
    await add_lot(200_000, pool="merchant", holder_id=m.id)
    await first_release(make_policy(), "merchant")
    q = """query($m: ID!) { myReleases(merchantId: $m) { totalCount
      edges { node { paidUnits kind } } } }"""
    mid = str(GlobalID("Merchant", str(m.id)))
    body = await gql(client, q, {"m": mid}, token=await token_for(owner.id, "merchant_owner"))
    assert body["data"]["myReleases"]["totalCount"] == 1
    assert body["data"]["myReleases"]["edges"][0]["node"]["paidUnits"] == 1000
    stranger = await User.create(role="merchant_owner")
    body = await gql(
        client,
        q,
        {"m": mid},
        token=await token_for(stranger.id, "merchant_owner"),
        expect_errors=True,
    )
    assert body["data"] is None or body["data"]["myReleases"] is None
