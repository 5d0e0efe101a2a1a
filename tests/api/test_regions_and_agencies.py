"""GB/T 2260 regions and agent appointments (SPEC §7): the shipped table, `regions`,
store region codes checked against it, and `appointAgent` / `endAgency` rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.api.graphql.core.ids import encode_id
from app.domain import regions
from app.models.merchants import Agent
from app.models.users import Role, User
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

REGIONS = "query($p: String) { regions(parent: $p) { code name level parentCode } }"
APPOINT = """mutation($u: ID!, $l: String!, $r: String!) {
  appointAgent(userId: $u, level: $l, regionCode: $r) {
    __typename
    ... on AgentAppointed { agency { id userId level regionCode endedAt } }
    ... on AgentError { code field message } } }"""
END = """mutation($a: ID!, $why: String!) { endAgency(agentId: $a, reason: $why) {
    __typename
    ... on AgencyEnded { agency { id endedAt endReason } }
    ... on AgentError { code field message } } }"""
APPLY = """mutation($i: ApplyMerchantInput!) { applyMerchant(input: $i) {
    __typename ... on MerchantSuccess { merchant { regionCode } }
    ... on MerchantError { code field message } } }"""


def uid(user: User) -> str:
    return str(encode_id("User", user.id))


async def admin_token() -> str:
    return await token_for((await make_user(Role.ADMIN)).id)


async def test_the_shipped_table_has_every_level_with_its_parents(db):
    shipped = regions.shipped()
    by_code = {r.code: r for r in shipped}
    counts = {lvl: sum(r.level == lvl for r in shipped) for lvl in regions.Level}
    assert counts == {"province": 31, "city": 342, "district": 2975}
    # every parent is there, one level up
    up = {"city": "province", "district": "city"}
    for r in shipped:
        if r.level == "province":
            assert r.parent_code is None
        else:
            assert by_code[r.parent_code].level == up[r.level]
    # and the migration loaded it
    assert await regions.get("440305") == regions.Region("440305", "南山区", "district", "440300")


async def test_regions_walks_down_from_the_provinces(client):
    body = await gql(client, REGIONS)
    provinces = body["data"]["regions"]
    assert len(provinces) == 31 and provinces[0] == {
        "code": "110000", "name": "北京市", "level": "PROVINCE", "parentCode": None
    }  # fmt: skip
    cities = (await gql(client, REGIONS, {"p": "440000"}))["data"]["regions"]
    assert {"code": "440300", "name": "深圳市", "level": "CITY", "parentCode": "440000"} in cities
    districts = (await gql(client, REGIONS, {"p": "440300"}))["data"]["regions"]
    assert "440305" in {d["code"] for d in districts}
    assert {d["level"] for d in districts} == {"DISTRICT"}
    # a district has nothing under it; a malformed parent is INVALID on `parent`
    assert (await gql(client, REGIONS, {"p": "440305"}))["data"]["regions"] == []
    bad = await gql(client, REGIONS, {"p": "44"}, expect_errors=True)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"
    assert bad["errors"][0]["extensions"]["field"] == "parent"


def _store(region: str) -> dict:
    return {
        "name": "店",
        "category": "food",
        "address": "1 Road",
        "location": {"lat": "31.23", "lng": "121.47", "coordSystem": "GCJ02"},
        "regionCode": region,
    }


@pytest.mark.parametrize(
    ("code", "accepted"),
    [
        ("310101", True),  # a district
        ("441900", True),  # 东莞: a city with no districts below it
        ("310100", False),  # a city with districts
        ("310000", False),  # a province
        ("310199", False),  # six digits, no such region
    ],
)
async def test_a_store_region_is_a_district_that_exists(client, code, accepted):
    token = await token_for((await make_user()).id)
    body = await gql(client, APPLY, {"i": _store(code)}, token)
    r = body["data"]["applyMerchant"]
    if accepted:
        assert r == {"__typename": "MerchantSuccess", "merchant": {"regionCode": code}}
    else:
        assert (r["__typename"], r["code"], r["field"]) == (
            "MerchantError",
            "INVALID",
            "regionCode",
        )


async def test_an_agent_is_appointed_to_a_region_of_its_level(client):
    admin = await admin_token()
    user = await make_user()
    body = await gql(client, APPOINT, {"u": uid(user), "l": "city", "r": "440300"}, admin)
    a = body["data"]["appointAgent"]
    assert a["__typename"] == "AgentAppointed"
    assert (a["agency"]["level"], a["agency"]["regionCode"], a["agency"]["endedAt"]) == (
        "city", "440300", None
    )  # fmt: skip
    # the account is an agent now, and its session sees it: it may read its statement
    assert (await User.get(id=user.id)).role == Role.AGENT
    month = "2026-01"
    stmt = "query($a: ID!, $m: String!) { agentStatement(agentId: $a, month: $m) { level } }"
    mine = await gql(client, stmt, {"a": a["agency"]["id"], "m": month}, await token_for(user.id))
    assert mine["data"]["agentStatement"]["level"] == "city"
    # appointing it again is a repeat: the same agency
    again = await gql(client, APPOINT, {"u": uid(user), "l": "city", "r": "440300"}, admin)
    assert again["data"]["appointAgent"]["agency"]["id"] == a["agency"]["id"]
    assert await Agent.all().count() == 1


@pytest.mark.parametrize(
    ("level", "code", "field"),
    [
        ("province", "440300", "regionCode"),  # a city's code for a province agent
        ("city", "440000", "regionCode"),  # a province's code for a city agent
        ("district", "440300", "regionCode"),  # a city's code for a district agent
        ("city", "449900", "regionCode"),  # no such region
        ("city", "4403", "regionCode"),  # not six digits
        ("county", "440305", "level"),  # no such level
    ],
)
async def test_an_agent_region_must_exist_and_be_of_its_level(client, level, code, field):
    user = await make_user()
    body = await gql(client, APPOINT, {"u": uid(user), "l": level, "r": code}, await admin_token())
    r = body["data"]["appointAgent"]
    assert (r["__typename"], r["code"], r["field"]) == ("AgentError", "INVALID", field)
    assert await Agent.all().count() == 0
    assert (await User.get(id=user.id)).role == Role.CONSUMER


async def test_one_agent_in_office_per_region_and_level(client):
    admin = await admin_token()
    first, second = await make_user(), await make_user()
    await gql(client, APPOINT, {"u": uid(first), "l": "district", "r": "440305"}, admin)
    body = await gql(client, APPOINT, {"u": uid(second), "l": "district", "r": "440305"}, admin)
    r = body["data"]["appointAgent"]
    assert (r["__typename"], r["code"], r["field"]) == ("AgentError", "REGION_TAKEN", "regionCode")
    # another level over the same place is another agency
    city = await gql(client, APPOINT, {"u": uid(second), "l": "city", "r": "440300"}, admin)
    assert city["data"]["appointAgent"]["__typename"] == "AgentAppointed"


async def test_an_account_with_another_role_is_not_made_an_agent(client):
    owner = await make_user(Role.MERCHANT_OWNER)
    body = await gql(
        client, APPOINT, {"u": uid(owner), "l": "province", "r": "440000"}, await admin_token()
    )
    r = body["data"]["appointAgent"]
    assert (r["code"], r["field"]) == ("ROLE_CONFLICT", "userId")
    assert (await User.get(id=owner.id)).role == Role.MERCHANT_OWNER


async def test_an_ended_agency_earns_nothing_more_and_frees_its_region(client):
    admin = await admin_token()
    agent_user, successor = await make_user(), await make_user()
    body = await gql(client, APPOINT, {"u": uid(agent_user), "l": "district", "r": "310101"}, admin)
    gid = body["data"]["appointAgent"]["agency"]["id"]
    shop = await make_merchant(region_code="310101", discount_bps=2000)
    buyer = await make_user()
    before = await paid_order(buyer, shop, 10_000)
    assert any(p["kind"] == "agent" for p in before.settlement["parties"])
    # a reason is required
    no_reason = await gql(client, END, {"a": gid, "why": " "}, admin)
    assert (no_reason["data"]["endAgency"]["code"], no_reason["data"]["endAgency"]["field"]) == (
        "INVALID", "reason"
    )  # fmt: skip
    ended = await gql(client, END, {"a": gid, "why": "contract over"}, admin)
    e = ended["data"]["endAgency"]
    assert e["__typename"] == "AgencyEnded" and e["agency"]["endReason"] == "contract over"
    assert e["agency"]["endedAt"] is not None
    # the account is a consumer again
    assert (await User.get(id=agent_user.id)).role == Role.CONSUMER
    # orders paid from now on pay it nothing
    after = await paid_order(buyer, shop, 10_000)
    assert not any(p["kind"] == "agent" for p in after.settlement["parties"])
    # ending it again is a repeat
    again = await gql(client, END, {"a": gid, "why": "contract over"}, admin)
    repeat = again["data"]["endAgency"]["agency"]["endedAt"]
    assert datetime.fromisoformat(repeat) == datetime.fromisoformat(e["agency"]["endedAt"])
    # and the region may have a new agent
    body = await gql(client, APPOINT, {"u": uid(successor), "l": "district", "r": "310101"}, admin)
    assert body["data"]["appointAgent"]["__typename"] == "AgentAppointed"
    third = await paid_order(buyer, shop, 10_000)
    new_id = (await Agent.get(user_id=successor.id)).id
    assert [int(p["id"]) for p in third.settlement["parties"] if p["kind"] == "agent"] == [new_id]


async def test_only_admins_appoint(client):
    user = await make_user()
    body = await gql(
        client,
        APPOINT,
        {"u": uid(user), "l": "city", "r": "440300"},
        await token_for(user.id),
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
