"""Live events across API workers: two uvicorn processes sharing PostgreSQL and Redis,
clients on one, the payment's notification handled by the other, through a real
WebSocket client speaking graphql-transport-ws by hand."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.api.graphql.core.ids import encode_id
from app.dev.sandbox_provider import signed_notification
from app.domain import merchants
from app.infra import live, outbox
from app.infra.redis import get_redis
from app.models.payments import Payment
from app.models.users import Role
from app.services import checkout
from tests.factories import make_merchant, make_user
from tests.helpers import token_for
from tests.live_client import LiveSocket, session
from tests.live_server import live_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ORDER_EVENTS = """subscription($m: ID!) { orderEvents(merchantId: $m) {
  kind orderId amountFen status } }"""
ORDER_STATUS = "subscription($o: ID!) { orderStatus(orderId: $o) { orderId status } }"


def _gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))


async def _store():
    owner = await make_user(Role.MERCHANT_OWNER)
    store = await make_merchant(owner=owner)
    device, _ = await merchants.register_pos_device(owner.id, store.id, f"POS-{store.id}")
    return store, await token_for(device.id, "pos_device")


async def _heard(channel: str, subscribers: int = 1) -> None:
    """Until Redis counts this many subscribers of `channel` (the workers' hubs)."""
    for _ in range(500):
        [(_, count)] = await get_redis().pubsub_numsub(channel)
        if count >= subscribers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {channel}")


async def _order(consumer_id: int, merchant_id: int, amount_fen: int, key: str):
    order = await checkout.create_order(
        consumer_id=consumer_id, merchant_id=merchant_id, amount_fen=amount_fen,
        idempotency_key=key,
    )  # fmt: skip
    await outbox.drain()
    return order


async def _pay(base: str, order) -> None:
    """The sandbox provider's signed notification that the order was paid, to `base`."""
    payment = await Payment.get(order_id=order.id)
    headers, body = signed_notification(
        {
            "event": "payment.succeeded",
            "out_trade_no": payment.out_trade_no,
            "txn_id": f"SB-{order.id}",
            "amount_fen": order.cash_fen,
        }  # fmt: skip
    )
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        resp = await c.post("/pay/notify/sandbox", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


async def _events(socket: LiveSocket, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        message = await socket.receive(wait_s=10)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["orderEvents"]
        out.append((event["kind"], event["orderId"]))
    return out


async def test_clients_on_one_worker_hear_payments_handled_by_the_other(db):
    store_a, device_a = await _store()
    store_b, device_b = await _store()
    consumer = await make_user()
    with live_server() as worker_1, live_server() as worker_2:
        ws_1 = worker_1.replace("http://", "ws://") + "/graphql"
        ws_2 = worker_2.replace("http://", "ws://") + "/graphql"
        async with (
            session(ws_1, device_a) as pos_a,
            session(ws_2, device_b) as pos_b,
            session(ws_1, await token_for(consumer.id)) as app,
        ):
            # A's device may not listen to B's store, on either worker
            await pos_a.subscribe("b", ORDER_EVENTS, {"m": _gid("Merchant", store_b.id)})
            refused = await pos_a.receive()
            assert refused["type"] == "error"
            assert refused["payload"][0]["extensions"]["code"] == "PERMISSION_DENIED"
            await pos_a.subscribe("a", ORDER_EVENTS, {"m": _gid("Merchant", store_a.id)})
            await pos_b.subscribe("b", ORDER_EVENTS, {"m": _gid("Merchant", store_b.id)})
            await _heard(live.merchant_channel(store_a.id))
            await _heard(live.merchant_channel(store_b.id))

            # B's order, created here and paid through worker 2: B's device hears it
            # (so it was published), A's device does not
            order_b = await _order(consumer.id, store_b.id, 3_000, "b1")
            await _pay(worker_2, order_b)
            assert await _events(pos_b, 2) == [
                ("CREATED", _gid("Order", order_b.id)),
                ("PAID", _gid("Order", order_b.id)),
            ]

            # A's order: the consumer follows it on worker 1 ...
            order_a = await _order(consumer.id, store_a.id, 4_200, "a1")
            await app.subscribe("s", ORDER_STATUS, {"o": _gid("Order", order_a.id)})
            first = await app.receive(wait_s=10)
            assert first["payload"]["data"]["orderStatus"]["status"] == "PAYING"
            # ... and its payment, handled by worker 2, reaches both on worker 1
            await _pay(worker_2, order_a)
            paid = await app.receive(wait_s=10)
            assert paid["payload"]["data"]["orderStatus"] == {
                "orderId": _gid("Order", order_a.id),
                "status": "PAID",
            }
            assert await _events(pos_a, 2) == [
                ("CREATED", _gid("Order", order_a.id)),
                ("PAID", _gid("Order", order_a.id)),
            ]
            # and nothing of B's ever arrived on A's subscription
            with pytest.raises(TimeoutError):
                await pos_a.receive(wait_s=0.5)
