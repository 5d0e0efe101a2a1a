"""Every field a partner app may call: without its scope a typed refusal
(`SCOPE_MISSING`), for a merchant it was not given null or NOT_FOUND, for one it was
given the data. Partner apps see merchants given by id or by GB/T 2260 region."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from strawberry.relay import GlobalID

from app.domain import partners, sessions
from app.domain.partners import SCOPES
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from app.models.merchants import Merchant
from app.models.partners import PartnerApp
from app.models.users import Role
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


@dataclass(frozen=True)
class Field:
    name: str
    scope: str
    query: str
    # how the answer for a merchant not given reads: None (a null field) or an error code
    outside: str | None = "NOT_FOUND"


FIELDS = [
    Field("merchant", "read:merchants", "query($m: ID!) { merchant(id: $m) { id name } }", None),
    Field(
        "merchantOrders",
        "read:orders",
        "query($m: ID!) { merchantOrders(merchantId: $m, first: 5) "
        "{ totalCount edges { node { id amountFen merchant { id } } } } }",
    ),
    Field(
        "merchantStats",
        "read:stats",
        'query($m: ID!) { merchantStats(merchantId: $m, from: "2020-01-01", to: "2020-12-31") '
        "{ orders salesFen } }",
    ),
    Field(
        "merchantPointsSummary",
        "read:points",
        "query($m: ID!) { merchantPointsSummary(merchantId: $m) "
        "{ consumerPointsIssued consumerLots pointsPending } }",
    ),
    Field(
        "merchantReleaseSummary",
        "read:releases",
        "query($m: ID!) { merchantReleaseSummary(merchantId: $m) { payments paidUnits } }",
    ),
]  # fmt: skip


async def partner_token(app: PartnerApp, scopes: tuple[str, ...] | None = None) -> str:
    granted = tuple(app.scopes.split()) if scopes is None else scopes
    return issue_access(app.id, Kind.PARTNER, scopes=granted, ttl_s=600)


def code_of(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.fixture
async def world(db):
    inside = await make_merchant(region_code="310101")  # given by region (Shanghai, 31)
    given = await make_merchant(region_code="440305")  # given by id (Shenzhen)
    outside = await make_merchant(region_code="440306")
    consumer = await make_user()
    for store in (inside, given, outside):
        await paid_order(consumer, store, 10_000)
    app = (
        await partners.create_app("Chain", SCOPES, merchant_ids=[given.id], region_codes=["310000"])
    ).app
    return app, inside, given, outside


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
async def test_each_partner_field_needs_its_scope_and_sees_only_what_was_given(
    client, world, field
):
    app, inside, given, outside = world
    others = tuple(s for s in SCOPES if s != field.scope)
    # without the scope: refused, typed, whatever the merchant
    body = await gql(
        client, field.query, {"m": gid("Merchant", inside.id)}, await partner_token(app, others),
        expect_errors=True,
    )  # fmt: skip
    assert code_of(body) == "SCOPE_MISSING", body
    assert field.scope in body["errors"][0]["message"]
    token = await partner_token(app, (field.scope,))
    # a merchant it was not given: as if it did not exist
    body = await gql(client, field.query, {"m": gid("Merchant", outside.id)}, token, True)
    if field.outside is None:
        assert body["data"][field.name] is None and not body.get("errors"), body
    else:
        assert code_of(body) == field.outside, body
        assert body["errors"][0]["extensions"]["field"] == "merchantId"
    # merchants given by region and by id: the data
    for store in (inside, given):
        body = await gql(client, field.query, {"m": gid("Merchant", store.id)}, token)
        assert body["data"][field.name] is not None, body


async def test_the_data_a_partner_reads_is_the_merchants(client, world):
    app, inside, _given, _outside = world
    token = await partner_token(app)
    m = gid("Merchant", inside.id)
    orders = (await gql(client, FIELDS[1].query, {"m": m}, token))["data"]["merchantOrders"]
    assert orders["totalCount"] == 1
    assert orders["edges"][0]["node"]["amountFen"] == 10_000
    assert orders["edges"][0]["node"]["merchant"] == {"id": m}
    points = (await gql(client, FIELDS[3].query, {"m": m}, token))["data"]
    assert points["merchantPointsSummary"]["consumerLots"] == 1
    assert points["merchantPointsSummary"]["consumerPointsIssued"] > 0
    today = (
        datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    )  # stats days are Shanghai days
    stats_q = (
        "query($m: ID!, $d: Date!) { merchantStats(merchantId: $m, from: $d, to: $d) { orders } }"
    )
    stats = await gql(client, stats_q, {"m": m, "d": today}, token)
    assert stats["data"]["merchantStats"]["orders"] in (0, 1)  # (paid today, Asia/Shanghai)


async def test_the_merchants_list_is_what_was_given(client, world):
    app, inside, given, outside = world
    query = "{ merchants(first: 50) { totalCount edges { node { id } } } }"
    body = await gql(client, query, token=await partner_token(app))
    ids = {e["node"]["id"] for e in body["data"]["merchants"]["edges"]}
    assert ids == {gid("Merchant", inside.id), gid("Merchant", given.id)}
    assert body["data"]["merchants"]["totalCount"] == 2
    # without read:merchants
    body = await gql(
        client, query, token=await partner_token(app, ("read:orders",)), expect_errors=True
    )
    assert code_of(body) == "SCOPE_MISSING"
    # an admin sees every merchant; any other user is refused
    admin = await token_for((await make_user(Role.ADMIN)).id)
    assert (await gql(client, query, token=admin))["data"]["merchants"]["totalCount"] == 3
    user = await token_for((await make_user()).id)
    assert code_of(await gql(client, query, token=user, expect_errors=True)) == "PERMISSION_DENIED"


async def test_a_region_covers_its_level_only(client, db):
    district = await make_merchant(region_code="310101")
    same_city = await make_merchant(region_code="310104")
    other_city = await make_merchant(region_code="320102")
    query = "{ merchants(first: 50) { edges { node { id } } } }"
    for codes, seen in [
        (["310000"], {district, same_city}),  # the province: every code starting 31
        (["310100"], {district, same_city}),  # the city: 3101
        (["310101"], {district}),  # the district itself
        (["320000", "310101"], {district, other_city}),
    ]:
        app = (await partners.create_app(f"R{codes}", ("read:merchants",), region_codes=codes)).app
        body = await gql(client, query, token=await partner_token(app))
        got = {e["node"]["id"] for e in body["data"]["merchants"]["edges"]}
        assert got == {gid("Merchant", m.id) for m in seen}, codes


async def test_a_narrower_grant_holds_from_the_next_request(client, world):
    """Tokens follow the database: scopes taken from the app or a merchant no longer
    given take effect at once, whatever the token says."""
    app, inside, _given, _outside = world
    token = await partner_token(app)
    m = gid("Merchant", inside.id)
    assert (await gql(client, FIELDS[0].query, {"m": m}, token))["data"]["merchant"]
    await PartnerApp.filter(id=app.id).update(region_codes=[])
    await sessions.subject_changed(Kind.PARTNER, app.id)
    assert (await gql(client, FIELDS[0].query, {"m": m}, token))["data"]["merchant"] is None
    await PartnerApp.filter(id=app.id).update(scopes="read:orders", region_codes=["310000"])
    await sessions.subject_changed(Kind.PARTNER, app.id)
    body = await gql(client, FIELDS[0].query, {"m": m}, token, expect_errors=True)
    assert code_of(body) == "SCOPE_MISSING"


async def test_partners_are_refused_on_fields_that_do_not_serve_them(client, world):
    app, inside, _given, _outside = world
    token = await partner_token(app)
    for query in ("{ me { id } }", "{ wallet { vouchersFen } }", "{ partnerApps { totalCount } }"):
        body = await gql(client, query, token=token, expect_errors=True)
        assert code_of(body) == "PERMISSION_DENIED", (query, body)
    # a user who is not the merchant's is still refused on the fields partners share
    user = await token_for((await make_user()).id)
    body = await gql(client, FIELDS[1].query, {"m": gid("Merchant", inside.id)}, user, True)
    assert code_of(body) == "PERMISSION_DENIED"
    # and the store's owner reads its own summaries
    owner = await token_for((await Merchant.get(id=inside.id)).owner_id)
    body = await gql(client, FIELDS[3].query, {"m": gid("Merchant", inside.id)}, owner)
    assert body["data"]["merchantPointsSummary"]["consumerLots"] == 1


async def test_merchant_details_need_read_merchants_whichever_way_they_are_asked(client, world):
    app, inside, _given, _outside = world
    m = gid("Merchant", inside.id)
    node = "query($m: ID!) { node(id: $m) { ... on Merchant { id name } } }"
    assert (await gql(client, node, {"m": m}, await partner_token(app)))["data"]["node"]
    without = await partner_token(app, ("read:orders",))
    assert (await gql(client, node, {"m": m}, without))["data"]["node"] is None
    body = await gql(client, FIELDS[1].query, {"m": m}, without)
    order = body["data"]["merchantOrders"]["edges"][0]["node"]
    assert order["merchant"] is None  # the order, not its merchant's details
