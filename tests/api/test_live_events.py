"""Live subscriptions over graphql-transport-ws, against the app served by uvicorn in
this test's event loop (its database and Redis: the in-process stand-in by default),
through a real WebSocket client speaking the protocol by hand (tests/live_client.py).

Across two worker processes: tests/api/test_live_workers.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import jwt
import pytest
import uvicorn

from app.api.graphql.core.ids import encode_id
from app.api.http import create_app
from app.domain import merchants, orders, sessions, users
from app.domain.principals import Kind
from app.infra import live, outbox
from app.infra.redis import get_redis
from app.models.merchants import PosDevice
from app.models.users import Role
from app.services import checkout
from tests.factories import make_merchant, make_user, paid_order
from tests.fakes.server import free_port
from tests.helpers import gql, token_for
from tests.live_client import connect, session

ORDER_EVENTS = """subscription($m: ID!) { orderEvents(merchantId: $m) {
  kind orderId amountFen refundedFen status at } }"""
ORDER_STATUS = """subscription($o: ID!) { orderStatus(orderId: $o) {
  orderId status refundedFen at } }"""


@pytest.fixture
async def ws_url(db) -> AsyncIterator[str]:
    """The app on a loopback port, in this event loop (so it shares the test's
    database connections and Redis client)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(manage_db=False), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


async def _store_with_device(serial: str):
    owner = await make_user(Role.MERCHANT_OWNER)
    merchant = await make_merchant(owner=owner)
    device, _ = await merchants.register_pos_device(owner.id, merchant.id, serial)
    return owner, merchant, device, await token_for(device.id, "pos_device")


async def _heard(channel: str) -> None:
    """Until this worker's hub listens to `channel` (Redis confirmed it)."""
    for _ in range(500):
        if channel in live.hub().channels():
            break
        await asyncio.sleep(0.01)
    # the listener is registered before the confirmation: wait for that too
    async with live.hub().listen([channel]):
        pass


def _gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))


async def test_a_device_hears_its_store_orders_created_and_paid(ws_url):
    _, store, _, device_token = await _store_with_device("POS-A1")
    consumer = await make_user()
    async with session(ws_url, device_token) as socket:
        await socket.subscribe("1", ORDER_EVENTS, {"m": _gid("Merchant", store.id)})
        await _heard(live.merchant_channel(store.id))
        order = await paid_order(consumer, store, 12_345)
        created, paid = await socket.receive(), await socket.receive()
    assert created["type"] == paid["type"] == "next" and created["id"] == "1"
    c, p = created["payload"]["data"]["orderEvents"], paid["payload"]["data"]["orderEvents"]
    assert (c["kind"], c["status"], c["orderId"], c["amountFen"]) == (
        "CREATED",
        "CREATED",
        _gid("Order", order.id),
        12_345,
    )
    assert (p["kind"], p["status"], p["orderId"], p["amountFen"]) == (
        "PAID",
        "PAID",
        _gid("Order", order.id),
        12_345,
    )


async def test_a_device_never_hears_another_store(ws_url):
    _, store_a, _, device_a = await _store_with_device("POS-A2")
    _, store_b, _, _ = await _store_with_device("POS-B2")
    consumer = await make_user()
    async with session(ws_url, device_a) as socket:
        # asking for the other store's events is refused on that subscription
        await socket.subscribe("b", ORDER_EVENTS, {"m": _gid("Merchant", store_b.id)})
        refused = await socket.receive()
        assert refused["type"] == "error" and refused["id"] == "b", refused
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["PERMISSION_DENIED"]
        # its own store's subscription hears its own orders only: B's order, paid
        # first, would have arrived before A's (one connection to Redis, in order)
        await socket.subscribe("a", ORDER_EVENTS, {"m": _gid("Merchant", store_a.id)})
        await _heard(live.merchant_channel(store_a.id))
        await paid_order(consumer, store_b, 500)
        mine = await paid_order(consumer, store_a, 700)
        heard = [(await socket.receive())["payload"]["data"]["orderEvents"] for _ in range(2)]
        assert [(e["kind"], e["orderId"]) for e in heard] == [
            ("CREATED", _gid("Order", mine.id)),
            ("PAID", _gid("Order", mine.id)),
        ]
        with pytest.raises(TimeoutError):
            await socket.receive(wait_s=0.3)
    assert live.merchant_channel(store_b.id) not in live.hub().channels()


async def test_owner_and_staff_hear_their_store_others_do_not(ws_url):
    owner, store, _, _ = await _store_with_device("POS-A3")
    staff = await make_user(Role.MERCHANT_STAFF)
    await merchants.add_staff(owner.id, store.id, staff.id)
    stranger = await make_user(Role.MERCHANT_OWNER)
    consumer = await make_user()
    refunded = await paid_order(consumer, store, 2_000)
    for user in (owner, staff):
        async with session(ws_url, await token_for(user.id)) as socket:
            await socket.subscribe("1", ORDER_EVENTS, {"m": _gid("Merchant", store.id)})
            await _heard(live.merchant_channel(store.id))
            await orders.refund_order(refunded.id, 500, refund_key=f"rf-{user.id}")
            event = (await socket.receive())["payload"]["data"]["orderEvents"]
            assert (event["kind"], event["status"], event["amountFen"]) == (
                "REFUNDED",
                "PARTIALLY_REFUNDED",
                500,
            )
    async with session(ws_url, await token_for(stranger.id)) as socket:
        await socket.subscribe("1", ORDER_EVENTS, {"m": _gid("Merchant", store.id)})
        refused = await socket.receive()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {
            "code": "PERMISSION_DENIED",
            "field": "merchantId",
        }


async def test_the_consumer_follows_their_order_status(ws_url):
    _, store, _, device_token = await _store_with_device("POS-A4")
    consumer, other = await make_user(), await make_user()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=store.id, amount_fen=900, idempotency_key="o1"
    )
    await outbox.drain()
    gid = _gid("Order", order.id)
    async with session(ws_url, await token_for(consumer.id), header=False) as socket:
        await socket.subscribe("s", ORDER_STATUS, {"o": gid})
        # first as it stands ...
        now = (await socket.receive())["payload"]["data"]["orderStatus"]
        assert (now["orderId"], now["status"]) == (gid, "PAYING")
        # ... then each change
        await orders.mark_paid(order.id, channel=order.channel, channel_txn_id="t1", amount_fen=900)
        paid = (await socket.receive())["payload"]["data"]["orderStatus"]
        assert (paid["orderId"], paid["status"], paid["refundedFen"]) == (gid, "PAID", 0)
    # another consumer, and the store's device, hear nothing of it
    for token, code in [
        (await token_for(other.id), "NOT_FOUND"),
        (device_token, "PERMISSION_DENIED"),
    ]:
        async with session(ws_url, token) as socket:
            await socket.subscribe("s", ORDER_STATUS, {"o": gid})
            refused = await socket.receive()
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == code


async def test_connection_init_without_a_good_token_is_closed(ws_url, settings):
    user = await make_user()
    frozen = await make_user()
    admin = await make_user(Role.ADMIN)
    await users.freeze_user(frozen.id, by_user_id=admin.id, reason="test")

    def sign(**claims) -> str:
        now = int(time.time())
        base = {"iss": settings.jwt_issuer, "typ": "access", "fam": "f1", "knd": "user",
                "sub": str(user.id), "iat": now, "exp": now + 60}  # fmt: skip
        return jwt.encode({**base, **claims}, settings.jwt_secret, algorithm="HS256")

    cases = [
        ({}, "UNAUTHENTICATED"),
        ({"Authorization": ""}, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer not-a-jwt"}, "TOKEN_INVALID"),
        ({"token": sign(exp=2, iat=1)}, "TOKEN_EXPIRED"),
        ({"token": sign(sub="987654321")}, "TOKEN_INVALID"),  # no such user
        ({"token": sign(typ="refresh")}, "TOKEN_INVALID"),
        ({"token": await token_for(frozen.id)}, "ACCOUNT_FROZEN"),
    ]
    for payload, code in cases:
        async with connect(ws_url) as socket:
            await socket.send({"type": "connection_init", "payload": payload})
            closed = await socket.closed()
        assert (closed.code, closed.reason) == (4403, f"Forbidden: {code}"), payload
    # subscribing before connection_init: 4401, as the protocol says
    async with connect(ws_url) as socket:
        await socket.subscribe("1", ORDER_STATUS, {"o": _gid("Order", 1)})
        assert (await socket.closed()).code == 4401


async def test_only_graphql_transport_ws_and_only_subscriptions(ws_url, client):
    import websockets

    # the legacy graphql-ws protocol is not spoken: the socket is closed (4406)
    async with websockets.connect(ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406
    # a query over the socket is refused (queries and mutations go over HTTP)
    user = await make_user()
    async with session(ws_url, await token_for(user.id)) as socket:
        await socket.subscribe("q", "{ me { role } }")
        refused = await socket.receive()
        assert refused["type"] == "error" and refused["id"] == "q"
    # and a subscription over HTTP is refused
    body = await gql(client, ORDER_STATUS, {"o": _gid("Order", 1)}, expect_errors=True)
    assert body.get("errors"), body


async def test_subscriptions_per_connection_are_capped(ws_url, settings, monkeypatch):
    monkeypatch.setattr(settings, "live_max_subscriptions", 3)
    consumer = await make_user()
    _, store, _, _ = await _store_with_device("POS-A5")
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=store.id, amount_fen=900, idempotency_key="o1"
    )
    await outbox.drain()  # its `created` notice is out before anyone listens
    gid = _gid("Order", order.id)
    async with session(ws_url, await token_for(consumer.id)) as socket:
        for i in range(3):
            await socket.subscribe(str(i), ORDER_STATUS, {"o": gid})
            assert (await socket.receive())["type"] == "next"
        await socket.subscribe("over", ORDER_STATUS, {"o": gid})
        over = await socket.receive()
        assert over["type"] == "error" and over["id"] == "over", over
        assert over["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        # completing one frees its place
        await socket.complete("0")
        for _ in range(100):
            await socket.subscribe("again", ORDER_STATUS, {"o": gid})
            answer = await socket.receive()
            if answer["type"] == "next":
                break
            await asyncio.sleep(0.02)  # (the completion is handled in its own task)
        assert answer["type"] == "next" and answer["id"] == "again", answer


async def test_a_held_subscription_ends_when_its_device_is_disabled(ws_url, settings, monkeypatch):
    monkeypatch.setattr(settings, "live_recheck_s", 0.2)
    _, store, device, device_token = await _store_with_device("POS-A6")
    async with session(ws_url, device_token) as socket:
        await socket.subscribe("1", ORDER_EVENTS, {"m": _gid("Merchant", store.id)})
        await _heard(live.merchant_channel(store.id))
        await PosDevice.filter(id=device.id).update(is_active=False)
        await sessions.subject_changed(Kind.DEVICE, device.id)
        ended = await socket.receive(wait_s=3)
        assert (
            ended["type"] == "next"
            and ended["payload"]["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
        ), ended
        assert (await socket.receive())["type"] == "complete"


@pytest.mark.redis
async def test_the_hub_subscribes_again_after_its_connection_is_lost(ws_url):
    _, store, _, device_token = await _store_with_device("POS-A7")
    consumer = await make_user()
    r = get_redis()
    db = r.connection_pool.connection_kwargs["db"]
    async with session(ws_url, device_token) as socket:
        await socket.subscribe("1", ORDER_EVENTS, {"m": _gid("Merchant", store.id)})
        await _heard(live.merchant_channel(store.id))
        # the server drops this run's pub/sub connection (its database is this run's own)
        killed = 0
        for client in await r.client_list(_type="pubsub"):
            if int(client["db"]) == db:
                killed += await r.client_kill_filter(_id=client["id"])
        assert killed == 1
        for _ in range(300):  # until the hub is subscribed again
            [(_, count)] = await r.pubsub_numsub(live.merchant_channel(store.id))
            if count:
                break
            await asyncio.sleep(0.02)
        order = await paid_order(consumer, store, 800)
        heard = [(await socket.receive())["payload"]["data"]["orderEvents"] for _ in range(2)]
    assert [(e["kind"], e["orderId"]) for e in heard] == [
        ("CREATED", _gid("Order", order.id)),
        ("PAID", _gid("Order", order.id)),
    ]
