"""Exports through the API: each kind holds the rows its requester may see and nothing
else; refusals are typed; a repeated request is the same export; the file is fetched
from a signed link that a forger or a late caller cannot use; expired files go."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from strawberry.relay import GlobalID
from tortoise import connections

from app.domain import agents, audit, merchants, partners, sessions
from app.domain.exports import links
from app.domain.principals import Kind
from app.domain.tokens import issue_pair
from app.models.exports import Export, ExportStatus
from app.models.ledger import Posting
from app.models.merchants import Agent
from app.models.orders import LotStatus, Order, PointLot
from app.models.partners import PartnerApp
from app.models.releases import ReleasePayment
from app.models.users import Role
from app.services import exports as exporting
from app.services.export_job import file_path, purge_expired
from tests.domain.test_releases import first_release, fund, make_policy
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql, token_for

pytestmark = pytest.mark.postgres

START = """mutation($k: ExportKind!, $f: ExportFilterInput!, $i: String!) {
  startExport(kind: $k, filter: $f, idempotencyKey: $i) {
    __typename
    ... on Export { id kind status }
    ... on ExportError { code field message } } }"""
EXPORT = """query($id: ID!) { export(id: $id) {
  id status rowsWritten totalRows progress url expiresAt } }"""
MINE = "{ myExports { totalCount edges { node { id kind } } } }"

FROM = datetime(2020, 1, 1, tzinfo=UTC).isoformat()
TO = datetime(2100, 1, 1, tzinfo=UTC).isoformat()


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


class World:
    """Two owners' stores in two cities, a city agent of Shanghai, paid orders at each."""

    async def build(self) -> World:
        self.admin = await make_user(Role.ADMIN)
        self.owner_a = await make_user(Role.MERCHANT_OWNER)
        self.owner_b = await make_user(Role.MERCHANT_OWNER)
        self.agent_user = await make_user(Role.AGENT)
        self.consumer = await make_user()
        self.agency = await Agent.create(user=self.agent_user, level="city", region_code="310100")
        self.other_agency = await Agent.create(
            user=await make_user(Role.AGENT), level="city", region_code="440300"
        )
        self.a_sh = await make_merchant(self.owner_a, region_code="310101")
        self.a_sz = await make_merchant(self.owner_a, region_code="440305")
        self.b_sh = await make_merchant(self.owner_b, region_code="310104")
        self.b_sz = await make_merchant(self.owner_b, region_code="440305")
        self.orders: dict[int, list[int]] = {}
        for i, store in enumerate((self.a_sh, self.a_sz, self.b_sh, self.b_sz)):
            for amount in (10_000 + i, 20_000 + i):
                o = await paid_order(self.consumer, store, amount)
                self.orders.setdefault(store.id, []).append(o.id)
        self.tokens = {
            "admin": await token_for(self.admin.id),
            "owner_a": await token_for(self.owner_a.id),
            "agent": await token_for(self.agent_user.id),
            "consumer": await token_for(self.consumer.id),
        }
        return self


@pytest.fixture
async def world(client) -> World:
    return await World().build()


async def start(client, token: str, kind: str, key: str = "k1", **f: Any) -> dict:
    variables = {"k": kind, "f": {"from": FROM, "to": TO, **f}, "i": key}
    return (await gql(client, START, variables, token=token))["data"]["startExport"]


async def lines(client, token: str, kind: str, key: str = "k1", **f: Any) -> list[dict]:
    """Start an export, wait for it and read its file through its link."""
    started = await start(client, token, kind, key, **f)
    assert started["__typename"] == "Export", started
    await exporting.settled(int(GlobalID.from_id(started["id"]).node_id))
    node = (await gql(client, EXPORT, {"id": started["id"]}, token=token))["data"]["export"]
    assert node["status"] == "DONE" and node["progress"] == 1.0, node
    url = urlsplit(node["url"])
    resp = await client.get(f"{url.path}?{url.query}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/gzip"
    assert "attachment" in resp.headers["content-disposition"]
    out = [orjson.loads(line) for line in gzip.decompress(resp.content).splitlines()]
    assert node["rowsWritten"] == len(out)
    return out


def order_ids(rows: list[dict]) -> set[int]:
    return {int(GlobalID.from_id(r["id"]).node_id) for r in rows}


# ------------------------------------------------------------------------- orders


async def test_orders_for_each_requester_and_nothing_outside_their_scope(client, world):
    everything = {o for ids in world.orders.values() for o in ids}
    rows = await lines(client, world.tokens["admin"], "ORDERS")
    assert order_ids(rows) == everything
    order = await Order.get(id=order_ids(rows[:1]).pop())
    assert rows[0]["amountFen"] == order.amount_fen and rows[0]["status"] == "paid"

    # the owner: both of their stores, in either city, none of the other owner's
    mine = await lines(client, world.tokens["owner_a"], "ORDERS")
    assert order_ids(mine) == {*world.orders[world.a_sh.id], *world.orders[world.a_sz.id]}
    one = await lines(
        client, world.tokens["owner_a"], "ORDERS", "k2", merchantId=gid("Merchant", world.a_sz.id)
    )
    assert order_ids(one) == set(world.orders[world.a_sz.id])

    # the Shanghai city agent: the stores of Shanghai, whoever owns them
    region = await lines(client, world.tokens["agent"], "ORDERS")
    assert order_ids(region) == {*world.orders[world.a_sh.id], *world.orders[world.b_sh.id]}
    assert {r["regionCode"][:4] for r in region} == {"3101"}
    district = await lines(client, world.tokens["agent"], "ORDERS", "k2", regionCode="310104")
    assert order_ids(district) == set(world.orders[world.b_sh.id])

    # the admin narrows by region like anyone
    sz = await lines(client, world.tokens["admin"], "ORDERS", "k2", regionCode="440000")
    assert order_ids(sz) == {*world.orders[world.a_sz.id], *world.orders[world.b_sz.id]}

    # a time range that holds none of them
    early = await lines(
        client,
        world.tokens["admin"],
        "ORDERS",
        "k3",
        to=datetime(2021, 1, 1, tzinfo=UTC).isoformat(),
    )
    assert early == []


async def test_orders_refusals_are_typed(client, world):
    other_store = gid("Merchant", world.b_sh.id)
    got = await start(client, world.tokens["owner_a"], "ORDERS", merchantId=other_store)
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.merchantId")
    got = await start(client, world.tokens["agent"], "ORDERS", regionCode="440305")
    assert (got["code"], got["field"]) == ("PERMISSION_DENIED", "filter.regionCode")
    got = await start(client, world.tokens["consumer"], "ORDERS")
    assert got["code"] == "PERMISSION_DENIED"
    got = await start(client, world.tokens["admin"], "ORDERS", asset="CNY")
    assert (got["code"], got["field"]) == ("INVALID", "filter.asset")
    got = await start(client, world.tokens["admin"], "ORDERS", **{"from": TO, "to": FROM})
    assert (got["code"], got["field"]) == ("INVALID", "filter.to")
    got = await start(client, world.tokens["admin"], "ORDERS", regionCode="31x")
    assert (got["code"], got["field"]) == ("INVALID", "filter.regionCode")
    assert await Export.all().count() == 0


# ------------------------------------------------------------------------- ledger


async def _postings_touching(prefixes: tuple[str, ...]) -> set[int]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT p.id FROM ledger_postings p JOIN ledger_accounts s ON s.id = p.source_id "
        "JOIN ledger_accounts d ON d.id = p.destination_id"
    )
    out = set()
    for r in rows:
        p = await Posting.get(id=r["id"]).prefetch_related("source", "destination")
        if p.source.name.startswith(prefixes) or p.destination.name.startswith(prefixes):
            out.add(p.id)
    return out


async def test_ledger_for_each_requester_and_nothing_outside_their_scope(client, world):
    everything = await lines(client, world.tokens["admin"], "LEDGER")
    assert {r["id"] for r in everything} == set(await Posting.all().values_list("id", flat=True))
    prefixes = (
        f"merchant:{world.a_sh.id}:",
        f"merchant:{world.a_sz.id}:",
        f"consumer:{world.owner_a.id}:",
    )
    mine = await lines(client, world.tokens["owner_a"], "LEDGER")
    assert mine and {r["id"] for r in mine} == await _postings_touching(prefixes)
    for r in mine:
        assert r["source"].startswith(prefixes) or r["destination"].startswith(prefixes)

    points = await lines(client, world.tokens["owner_a"], "LEDGER", "k2", asset="POINTS")
    assert points and {r["asset"] for r in points} == {"POINTS"}
    payable = f"merchant:{world.a_sh.id}:payable"
    one = await lines(client, world.tokens["owner_a"], "LEDGER", "k3", account=payable)
    assert one and all(payable in (r["source"], r["destination"]) for r in one)

    got = await start(
        client, world.tokens["owner_a"], "LEDGER", "k4", account=f"merchant:{world.b_sh.id}:payable"
    )
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.account")
    got = await start(
        client, world.tokens["owner_a"], "LEDGER", "k4", merchantId=gid("Merchant", world.b_sh.id)
    )
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.merchantId")
    got = await start(client, world.tokens["agent"], "LEDGER", "k4")
    assert got["code"] == "PERMISSION_DENIED"


# ---------------------------------------------------------------- agent statement


async def test_agent_statement_lines_are_the_agencys_and_add_up_to_its_balances(client, world):
    rows = await lines(client, world.tokens["agent"], "AGENT_STATEMENT")
    assert rows and {r["agentId"] for r in rows} == {gid("Agent", world.agency.id)}
    month = datetime.now(UTC).astimezone(agents.SHANGHAI).strftime("%Y-%m")
    statement = await agents.statement(world.agency.id, month)
    assert sum(r["amountFen"] for r in rows if r["account"] == "pending") == statement.pending_fen
    assert sum(r["amountFen"] for r in rows if r["account"] == "payable") == statement.payable_fen
    assert statement.pending_fen > 0

    both = await lines(client, world.tokens["admin"], "AGENT_STATEMENT")
    assert {r["agentId"] for r in both} == {
        gid("Agent", a.id) for a in (world.agency, world.other_agency)
    }
    sz = await lines(client, world.tokens["admin"], "AGENT_STATEMENT", "k2", regionCode="440300")
    assert {r["agentId"] for r in sz} == {gid("Agent", world.other_agency.id)}

    got = await start(client, world.tokens["owner_a"], "AGENT_STATEMENT")
    assert got["code"] == "PERMISSION_DENIED"
    got = await start(client, world.tokens["agent"], "AGENT_STATEMENT", "k3", regionCode="440300")
    assert (got["code"], got["field"]) == ("PERMISSION_DENIED", "filter.regionCode")


async def test_an_ended_agency_has_statements_for_the_periods_of_its_term_only(client, world):
    """An agency that ended mid-period still gets the period's statement (every movement
    of its accounts in it); a period that starts after its end leaves it out, while the
    agency in office keeps its lines."""
    admin = world.tokens["admin"]
    ended = await agents.end_agency(world.other_agency.id, "moved away", actor=audit.OPERATOR)
    end = datetime.now(UTC) - timedelta(hours=1)
    await Agent.filter(id=ended.id).update(created_at=end - timedelta(days=20), ended_at=end)
    both = {gid("Agent", a.id) for a in (world.agency, world.other_agency)}

    # the whole range holds its term: both agencies, the ended one's lines all there
    rows = await lines(client, admin, "AGENT_STATEMENT", "e1")
    assert {r["agentId"] for r in rows} == both
    theirs = [r for r in rows if r["agentId"] == gid("Agent", ended.id)]
    assert theirs and sum(r["amountFen"] for r in theirs if r["account"] == "pending") > 0
    # a period that ends when its term did, and one that begins as it ends (the same
    # postings, made after the hour it ended): the first has it, the second not
    within = await lines(
        client, admin, "AGENT_STATEMENT", "e2", to=(end + timedelta(seconds=1)).isoformat()
    )
    assert within == []  # (no money moved before the end: an empty statement, not refused)
    after = await lines(client, admin, "AGENT_STATEMENT", "e3", **{"from": end.isoformat()})
    assert {r["agentId"] for r in after} == {gid("Agent", world.agency.id)}
    # asked by its region: nothing, rather than the ended agency's lines
    sz = await lines(
        client, admin, "AGENT_STATEMENT", "e4", regionCode="440300", **{"from": end.isoformat()}
    )
    assert sz == []
    straddling = await lines(
        client,
        admin,
        "AGENT_STATEMENT",
        "e5",
        regionCode="440300",
        **{"from": (end - timedelta(minutes=1)).isoformat()},
    )
    assert {r["agentId"] for r in straddling} == {gid("Agent", ended.id)}
    assert len(straddling) == len(theirs)


# ------------------------------------------------------------------------ releases


async def test_releases_for_admins_by_store_and_refused_to_others(client, world):
    policy = make_policy()
    await fund(10**9)
    await PointLot.filter(pool="consumer").update(
        status=LotStatus.ACTIVE, activated_at=datetime(2024, 12, 31, tzinfo=UTC)
    )
    await first_release(policy)
    rows = await lines(client, world.tokens["admin"], "RELEASES")
    assert {r["id"] for r in rows} == set(await ReleasePayment.all().values_list("id", flat=True))
    store = gid("Merchant", world.b_sz.id)
    one = await lines(client, world.tokens["admin"], "RELEASES", "k2", merchantId=store)
    lots = await PointLot.filter(pool="consumer", order_id__in=world.orders[world.b_sz.id])
    assert {r["lotId"] for r in one} == {gid("PointLot", lot.id) for lot in lots}
    assert {r["merchantId"] for r in one} == {store}

    for who in ("owner_a", "agent", "consumer"):
        got = await start(client, world.tokens[who], "RELEASES", "k3")
        assert got["code"] == "PERMISSION_DENIED", who


# ------------------------------------------------------------------------ partners


async def test_partner_exports_hold_exactly_the_apps_reach_and_refuse_what_lies_outside(
    client, world
):
    """A partner app given Shenzhen store a_sz by id and Shanghai by region exports the
    orders and ledger postings of those stores only, whoever owns them; a store or a
    region outside what it was given is refused, typed; a missing scope too."""
    apps: dict[tuple[str, ...], int] = {}

    async def partner(*scopes: str) -> str:
        # a real app holding exactly these scopes (tokens follow the app's row)
        if scopes not in apps:
            issued = await partners.create_app(
                f"export-{len(apps)}", scopes, merchant_ids=[world.a_sz.id], region_codes=["310000"]
            )
            apps[scopes] = issued.app.id
        return (await issue_pair(apps[scopes], Kind.PARTNER, scopes=scopes)).access_token

    got = await start(client, await partner("read:merchants"), "ORDERS")
    assert got["code"] == "INSUFFICIENT_SCOPE" and "read:orders" in got["message"]
    got = await start(client, await partner("read:orders"), "LEDGER")
    assert got["code"] == "INSUFFICIENT_SCOPE" and "read:points" in got["message"]
    got = await start(client, await partner("read:orders"), "AGENT_STATEMENT")
    assert got["code"] == "PERMISSION_DENIED"
    assert await Export.all().count() == 0

    token = await partner("read:orders", "read:points")
    reach = {world.a_sh.id, world.b_sh.id, world.a_sz.id}
    rows = await lines(client, token, "ORDERS", "p-orders")
    assert order_ids(rows) == {o for m in reach for o in world.orders[m]}
    assert {r["merchantId"] for r in rows} == {gid("Merchant", m) for m in reach}
    # a district holding one store given by id: that store's orders, not its neighbour's
    sz = await lines(client, token, "ORDERS", "p-sz", regionCode="440305")
    assert order_ids(sz) == set(world.orders[world.a_sz.id])
    one = await lines(client, token, "ORDERS", "p-one", merchantId=gid("Merchant", world.b_sh.id))
    assert order_ids(one) == set(world.orders[world.b_sh.id])

    prefixes = tuple(f"merchant:{m}:" for m in sorted(reach))
    ledger = await lines(client, token, "LEDGER", "p-ledger")
    assert ledger and {r["id"] for r in ledger} == await _postings_touching(prefixes)
    assert all(r["source"].startswith(prefixes) or r["destination"].startswith(prefixes)
               for r in ledger)  # fmt: skip
    # the postings of the store not given (and of no store given) are in none of it
    outside = await _postings_touching((f"merchant:{world.b_sz.id}:",))
    outside -= await _postings_touching(prefixes)
    assert outside and not outside & {r["id"] for r in ledger}

    # outside the reach: the store as if absent, the region refused
    b_sz = gid("Merchant", world.b_sz.id)
    got = await start(client, token, "ORDERS", "x1", merchantId=b_sz)
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.merchantId")
    got = await start(client, token, "ORDERS", "x2", regionCode="320000")
    assert (got["code"], got["field"]) == ("PERMISSION_DENIED", "filter.regionCode")
    got = await start(client, token, "LEDGER", "x3", merchantId=b_sz)
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.merchantId")
    got = await start(client, token, "LEDGER", "x4", account=f"merchant:{world.b_sz.id}:payable")
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.account")
    got = await start(client, token, "ORDERS", "x5", merchantId=gid("Merchant", 10**9))
    assert (got["code"], got["field"]) == ("NOT_FOUND", "filter.merchantId")

    # the partner's exports are its own: listed for it, not for another app
    mine = (await gql(client, MINE, token=token))["data"]["myExports"]
    assert mine["totalCount"] == 4
    other = await partner("read:orders")
    assert (await gql(client, MINE, token=other))["data"]["myExports"]["totalCount"] == 0


async def test_a_partner_export_is_fixed_when_it_starts(client, world):
    """The reach is the app's at the start: a narrower grant later changes the next
    export, not one already asked for."""
    issued = await partners.create_app("narrowing", ("read:orders",), region_codes=["440300"])
    token = (await issue_pair(issued.app.id, Kind.PARTNER, scopes=("read:orders",))).access_token
    before = await lines(client, token, "ORDERS", "n1")
    assert order_ids(before) == {*world.orders[world.a_sz.id], *world.orders[world.b_sz.id]}
    await PartnerApp.filter(id=issued.app.id).update(region_codes=["310101"])
    await sessions.subject_changed(Kind.PARTNER, issued.app.id)
    after = await lines(client, token, "ORDERS", "n2")
    assert order_ids(after) == set(world.orders[world.a_sh.id])
    got = await start(client, token, "ORDERS", "n3", regionCode="440300")
    assert (got["code"], got["field"]) == ("PERMISSION_DENIED", "filter.regionCode")


async def test_a_pos_device_is_no_requester_of_exports(client, world):
    device, secret = await merchants.register_pos_device(world.owner_a.id, world.a_sh.id, "SN-X")
    device_token = (await issue_pair(device.id, Kind.DEVICE)).access_token
    body = await gql(
        client,
        START,
        {"k": "ORDERS", "f": {"from": FROM, "to": TO}, "i": "d"},
        token=device_token,
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


# --------------------------------------------------------------------- idempotency


async def test_the_same_key_is_the_same_export_and_another_request_under_it_is_refused(
    client, world
):
    token = world.tokens["owner_a"]
    first, second = await asyncio.gather(
        start(client, token, "ORDERS", "same"), start(client, token, "ORDERS", "same")
    )
    again = await start(client, token, "ORDERS", "same")
    assert first["id"] == second["id"] == again["id"]
    assert await Export.filter(idempotency_key="same").count() == 1

    other = await start(client, token, "ORDERS", "same", merchantId=gid("Merchant", world.a_sh.id))
    assert (other["code"], other["field"]) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    # another requester's key is their own
    theirs = await start(client, world.tokens["admin"], "ORDERS", "same")
    assert theirs["__typename"] == "Export" and theirs["id"] != first["id"]

    # each sees their own exports only
    mine = (await gql(client, MINE, token=token))["data"]["myExports"]
    assert [e["node"]["id"] for e in mine["edges"]] == [first["id"]]
    node = (await gql(client, EXPORT, {"id": theirs["id"]}, token=token))["data"]["export"]
    assert node is None
    for e in await Export.all():
        await exporting.settled(e.id)


# ---------------------------------------------------------------------------- links


async def _done_export(client, world) -> tuple[int, str]:
    started = await start(client, world.tokens["admin"], "ORDERS")
    export_id = int(GlobalID.from_id(started["id"]).node_id)
    await exporting.settled(export_id)
    node = await gql(client, EXPORT, {"id": started["id"]}, token=world.tokens["admin"])
    url = urlsplit(node["data"]["export"]["url"])
    return export_id, f"{url.path}?{url.query}"


async def test_a_forged_or_expired_link_is_refused(client, world):
    export_id, good = await _done_export(client, world)
    assert (await client.get(good)).status_code == 200
    q = parse_qs(urlsplit(good).query)
    exp, sig = q["exp"][0], q["sig"][0]

    async def refused(path: str) -> str:
        resp = await client.get(path)
        assert resp.status_code == 403, resp.text
        return resp.json()["errors"][0]["extensions"]["code"]

    forged = "0" * 64 if sig != "0" * 64 else "1" * 64
    assert (
        await refused(f"/exports/{export_id}.jsonl.gz?exp={exp}&sig={forged}")
        == "EXPORT_LINK_INVALID"
    )
    later = int(exp) + 3600  # a longer life, the signature of the shorter
    assert (
        await refused(f"/exports/{export_id}.jsonl.gz?exp={later}&sig={sig}")
        == "EXPORT_LINK_INVALID"
    )
    assert (
        await refused(f"/exports/{export_id + 1}.jsonl.gz?exp={exp}&sig={sig}")
        == "EXPORT_LINK_INVALID"
    )
    assert (
        await refused(f"/exports/{export_id}.jsonl.gz?exp=soon&sig={sig}") == "EXPORT_LINK_INVALID"
    )
    assert (
        await refused(f"/exports/{export_id}.jsonl.gz?exp={exp}&sig=%E9%AA%8C")
        == "EXPORT_LINK_INVALID"
    )
    assert await refused(f"/exports/{export_id}.jsonl.gz") == "EXPORT_LINK_INVALID"
    # rightly signed, but past its time
    past = int(datetime.now(UTC).timestamp()) - 1
    stale = f"/exports/{export_id}.jsonl.gz?exp={past}&sig={links.signature(export_id, past)}"
    assert await refused(stale) == "EXPORT_LINK_EXPIRED"
    # in Chinese unless English is asked for
    resp = await client.get(stale)
    assert resp.json()["errors"][0]["message"] == "该链接已过期"


async def test_files_are_deleted_after_their_expiry(client, world):
    export_id, good = await _done_export(client, world)
    path = file_path(export_id)
    assert path.is_file()
    assert await purge_expired() == 0  # not yet
    await Export.filter(id=export_id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await purge_expired() == 1
    assert not path.exists()
    e = await Export.get(id=export_id)
    assert e.status == ExportStatus.EXPIRED
    resp = await client.get(good)
    assert resp.status_code == 404 and resp.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    node = await gql(client, EXPORT, {"id": gid("Export", export_id)}, token=world.tokens["admin"])
    assert node["data"]["export"]["status"] == "EXPIRED" and node["data"]["export"]["url"] is None
