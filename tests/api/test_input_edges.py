"""Inputs the schema fuzz (tests/fuzz) found answered `INTERNAL`, each now a typed
answer on its field that changes nothing."""

from __future__ import annotations

from app.api.graphql.core.ids import encode_id
from app.domain import merchants
from app.models.merchants import Agent, ConsumerBinding, Merchant, MerchantStatus
from app.models.users import Role
from tests.factories import make_merchant, make_user
from tests.helpers import gql, token_for


def _error(body: dict) -> tuple[str, str]:
    err = body["errors"][0]["extensions"]
    return err["code"], err["field"]


async def test_admin_merchants_refuses_a_status_that_is_none(client):
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id, "admin")
    pending = await make_merchant(approve=False)
    await make_merchant()
    q = "query($s: String) { adminMerchants(status: $s) { edges { node { id status } } } }"
    for status in ("bogus", "", "approved\x00", "APPROVED\u202e", "x" * 500):
        body = await gql(client, q, {"s": status}, token, expect_errors=True)
        assert _error(body) == ("INVALID", "status"), status
    # the name the API prints a status with, and the stored one, both filter
    for status in ("PENDING", "pending"):
        edges = (await gql(client, q, {"s": status}, token))["data"]["adminMerchants"]["edges"]
        assert [e["node"]["id"] for e in edges] == [str(encode_id("Merchant", pending.id))]


async def test_agent_statement_month_outside_the_calendar_or_in_other_digits(client):
    agent_user = await make_user(Role.AGENT)
    agent = await Agent.create(user=agent_user, level="district", region_code="310101")
    token = await token_for(agent_user.id, "agent")
    q = """query($id: ID!, $m: String!) { agentStatement(agentId: $id, month: $m) { month } }"""
    agent_id = str(encode_id("Agent", agent.id))
    for month in ("9999-12", "2200-01", "٢٠٢٦-٠١", "2026-01\n"):
        body = await gql(client, q, {"id": agent_id, "m": month}, token, expect_errors=True)
        assert _error(body) == ("INVALID", "month"), month
    body = await gql(client, q, {"id": agent_id, "m": "2199-12"}, token)
    assert body["data"]["agentStatement"]["month"] == "2199-12"


async def test_heatmap_window_at_the_calendars_ends(client):
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id, "admin")
    q = """query($since: DateTime!, $until: DateTime) {
      consumptionHeatmap(bbox: {south: 31.0, west: 121.2, north: 31.5, east: 121.8},
                         since: $since, until: $until, resolution: 7) { totalOrders } }"""
    cases = [
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        (
            {"since": "2026-01-01T00:00:00+00:00", "until": "9999-12-31T23:59:59.999999-14:00"},
            "until",
        ),
    ]
    for variables, field in cases:
        body = await gql(client, q, variables, token, expect_errors=True)
        assert _error(body)[1] == field, variables
        assert _error(body)[0] == "INVALID", variables


async def test_merchant_location_that_is_not_a_finite_number(client):
    owner = await make_user()
    token = await token_for(owner.id, "consumer")
    apply = """mutation($i: ApplyMerchantInput!) { applyMerchant(input: $i) { __typename
      ... on MerchantError { code field } } }"""
    for lat in ("NaN", "sNaN", "-Infinity"):
        location = {"lat": lat, "lng": "121.4737", "coordSystem": "GCJ02"}
        i = {
            "name": "Tea",
            "category": "drinks",
            "address": "2 Road",
            "location": location,
            "regionCode": "310101",
        }
        # refused where the value is coerced, before any resolver: INVALID on `lat`
        body = await gql(client, apply, {"i": i}, token, expect_errors=True)
        ext = body["errors"][0]["extensions"]
        assert (ext["code"], ext["field"]) == ("INVALID", "lat"), lat
    assert await Merchant.all().count() == 0


async def test_bind_qr_whose_signature_is_not_ascii(client):
    shop = await make_merchant()
    consumer = await make_user()
    token = await token_for(consumer.id, "consumer")
    payload = merchants.merchant_qr(shop.id)
    bind = """mutation($q: String!) { bindMerchant(qr: $q) { __typename
      ... on MerchantError { code field } } }"""
    for forged in (payload[:-1] + "é", payload + "\u202e", payload[:-1] + "１"):
        res = (await gql(client, bind, {"q": forged}, token))["data"]["bindMerchant"]
        assert (res["code"], res["field"]) == ("QR_INVALID", "qr"), forged
    assert await ConsumerBinding.all().count() == 0
    assert shop.status == MerchantStatus.APPROVED


async def test_pos_login_with_a_serial_longer_than_any(client):
    shop = await make_merchant()
    await merchants.register_pos_device(shop.owner_id, shop.id, "POS-1")  # type: ignore[attr-defined]
    login = """mutation($s: String!) { posDeviceLogin(serial: $s, secret: "wrong") {
      __typename ... on AuthError { code } } }"""
    res = (await gql(client, login, {"s": "P" * 65}))["data"]["posDeviceLogin"]
    assert res == {"__typename": "AuthError", "code": "UNAUTHENTICATED"}


async def test_account_with_a_name_longer_than_any(client):
    admin = await make_user(Role.ADMIN)
    token = await token_for(admin.id, "admin")
    q = "query($n: String!) { account(name: $n) { name } }"
    assert (await gql(client, q, {"n": "platform:" + "x" * 200}, token))["data"]["account"] == []


async def test_non_finite_decimals_as_literals_and_variables_are_invalid(client):
    near = 'nearbyMerchants(location: {lat: %s, lng: "121.47"}) { totalCount }'
    for lat in ('"NaN"', '"sNaN"', '"-Infinity"'):
        body = await gql(client, "{ " + (near % lat) + " }", expect_errors=True)
        # a literal is refused by validation, before anything runs
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
    body = await gql(client, "{ " + (near % '"1e999999999"') + " }", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_LOCATION", body
    q = "query($l: LocationInput!) { nearbyMerchants(location: $l) { totalCount } }"
    body = await gql(client, q, {"l": {"lat": "sNaN", "lng": "1"}}, expect_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "lat"}, body
