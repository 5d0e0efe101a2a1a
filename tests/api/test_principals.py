"""Typed principals: a POS device's token is never read as a user's.

A device's id and a user's id come from different sequences, so a device of id n and a
user of id n exist side by side; every field that reads the caller is asked with the
device's token and must answer as for a device (a typed refusal, or what anyone may
see), never with user n's data or on user n's behalf.
"""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.relay import GlobalID

from app.domain import merchants
from app.models.merchants import Merchant
from app.models.orders import PointLot
from app.models.users import User
from tests.factories import make_merchant, make_user, paid_order
from tests.helpers import gql

DEVICE_LOGIN = """mutation($s: String!, $k: String!) { posDeviceLogin(serial: $s, secret: $k) {
  __typename ... on AuthPayload { accessToken } ... on AuthError { code } } }"""


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


@dataclass(frozen=True)
class Probe:
    name: str
    query: str
    variables: dict
    # A field anyone may call answers a device as it answers an anonymous caller (None);
    # a field for signed-in users refuses it with this code.
    refusal: str | None = "PERMISSION_DENIED"


async def _device_twin_of(victim: User, store: Merchant) -> tuple[str, str]:
    """A device at `store` whose id equals the victim's user id: (serial, secret)."""
    for n in range(1, victim.id + 1):
        device, secret = await merchants.register_pos_device(store.owner_id, store.id, f"SN-{n}")
        if device.id == victim.id:
            return device.serial, secret
    raise AssertionError("device ids did not meet the user's id")


def _probes(victim: User, own_store: Merchant, order_id: int, lot_id: int) -> list[Probe]:
    store = gid("Merchant", own_store.id)
    return [
        Probe("me", "{ me { id } }", {}),
        Probe("order", "query($i: ID!) { order(id: $i) { id } }", {"i": gid("Order", order_id)}),
        Probe("myOrders", "{ myOrders { totalCount } }", {}),
        Probe("ledgerEntries", "{ ledgerEntries { totalCount } }", {}),
        Probe(
            "ledgerEntries(merchantId)",
            "query($m: ID!) { ledgerEntries(merchantId: $m) { totalCount } }",
            {"m": store},
        ),
        Probe(
            "lotProjection",
            "query($l: ID!) { lotProjection(lotId: $l, growthBps: 100) { totalUnits } }",
            {"l": gid("PointLot", lot_id)},
        ),
        Probe("myMerchants", "{ myMerchants { totalCount } }", {}),
        Probe("wallet", "{ wallet { vouchersFen } }", {}),
        Probe("pointLots", "{ pointLots { totalCount } }", {}),
        Probe("myReleases", "{ myReleases { totalCount } }", {}),
        Probe(
            "myReleases(merchantId)",
            "query($m: ID!) { myReleases(merchantId: $m) { totalCount } }",
            {"m": store},
        ),
        Probe(
            "merchantWallet",
            "query($m: ID!) { merchantWallet(merchantId: $m) { payableFen } }",
            {"m": store},
        ),
        Probe(
            "merchantOrders",
            "query($m: ID!) { merchantOrders(merchantId: $m) { totalCount } }",
            {"m": store},
        ),
        Probe(
            "trafficPoints",
            "query($m: ID!) { trafficPoints(merchantId: $m) { balance } }",
            {"m": store},
        ),  # fmt: skip
        Probe("adminUsers", "{ adminUsers { totalCount } }", {}),
        Probe(
            "merchant (pending, the victim's)",
            "query($i: ID!) { merchant(id: $i) { id } }",
            {"i": store},
            refusal=None,
        ),
        Probe(
            "node(User)",
            "query($i: ID!) { node(id: $i) { id } }",
            {"i": gid("User", victim.id)},
            refusal=None,
        ),
        Probe(
            "node(Order)",
            "query($i: ID!) { node(id: $i) { id } }",
            {"i": gid("Order", order_id)},
            refusal=None,
        ),
        Probe(
            "node(PointLot)",
            "query($i: ID!) { node(id: $i) { id } }",
            {"i": gid("PointLot", lot_id)},
            refusal=None,
        ),
        Probe(
            "applyMerchant",
            """mutation { applyMerchant(input: {name: "x", category: "food", address: "",
               location: {lat: 31.2, lng: 121.4}, regionCode: "310101"}) {
               __typename ... on MerchantSuccess { merchant { id } } } }""",
            {},
        ),
        Probe(
            "createOrder",
            """mutation($m: ID!) { createOrder(input: {merchantId: $m, amountFen: 100,
               idempotencyKey: "dev"}) { __typename } }""",
            {"m": store},
        ),
        Probe(
            "acceptInvite",
            "mutation($c: String!) { acceptInvite(code: $c) { __typename } }",
            {"c": "ABCDEFGH"},
        ),
    ]


async def test_a_device_is_never_read_as_the_user_of_the_same_id(client, db):
    # given a consumer (user n) with an order, its ledger entries and a point lot, and a
    # pending store of their own
    victim = await make_user()
    other_store = await make_merchant()
    order = await paid_order(victim, other_store, 10_000)
    lot = await PointLot.get(holder_kind="consumer", holder_id=victim.id)
    own_store = await make_merchant(owner=victim, approve=False)
    # and a POS device of another merchant whose id is n
    serial, secret = await _device_twin_of(victim, other_store)
    login = await gql(client, DEVICE_LOGIN, {"s": serial, "k": secret})
    token = login["data"]["posDeviceLogin"]["accessToken"]
    merchants_before = await Merchant.filter(owner_id=victim.id).count()

    leaked, wrong = [], []
    probes = _probes(victim, own_store, order.id, lot.id)
    for probe in probes:
        body = await gql(client, probe.query, probe.variables, token, expect_errors=True)
        data = body.get("data") or {}
        value = next(iter(data.values()), None) if data else None
        errors = body.get("errors") or []
        if value is not None and not errors:
            leaked.append(probe.name)  # user n's data, or an act on user n's behalf
        elif probe.refusal is None:
            if value is not None or errors:
                wrong.append((probe.name, body))
        elif not errors or errors[0]["extensions"].get("code") != probe.refusal:
            wrong.append((probe.name, body))
    print(f"leak checks: {len(probes)}, leaked: {len(leaked)}: {leaked}")
    assert leaked == [], f"{len(leaked)} of {len(probes)} checks leaked: {leaked}"
    assert wrong == []
    # and nothing was done on the victim's behalf
    assert await Merchant.filter(owner_id=victim.id).count() == merchants_before


async def test_a_device_shows_its_own_stores_bind_qr_and_no_other(client, db):
    store, other = await make_merchant(), await make_merchant()
    device, secret = await merchants.register_pos_device(store.owner_id, store.id, "SN-QR-1")
    token = (await gql(client, DEVICE_LOGIN, {"s": device.serial, "k": secret}))["data"][
        "posDeviceLogin"
    ]["accessToken"]
    q = """mutation($m: ID!) { merchantBindQr(merchantId: $m) { __typename
      ... on BindQr { payload } ... on MerchantError { code field } } }"""
    own = (await gql(client, q, {"m": gid("Merchant", store.id)}, token))["data"]
    # the store's QR, naming the device (then its expiry and signature)
    assert own["merchantBindQr"]["payload"].startswith(f"msp2.{store.id}.{device.id}.")
    theirs = (await gql(client, q, {"m": gid("Merchant", other.id)}, token))["data"]
    assert theirs["merchantBindQr"] == {
        "__typename": "MerchantError",
        "code": "PERMISSION_DENIED",
        "field": "merchantId",
    }
