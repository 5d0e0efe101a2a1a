"""Events after commit: written with the change, delivered at least once to every
consumer of their kind — in-process right after the commit, by the sweep for what that
missed — and a consumer's failure never reaches the writer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest

from app import worker
from app.adapters.discovery import index
from app.domain import merchants, orders
from app.infra import outbox
from app.infra.redis import get_redis
from app.models.events import OutboxDelivery, OutboxEvent
from app.models.geo import GeoOrderFact, HeatCell, MerchantTaskCounter
from app.models.merchants import MerchantStatus
from app.models.orders import OrderStatus
from app.services import checkout
from app.services import discovery as hooks
from app.services.webhooks import WEBHOOKS
from tests.factories import make_merchant, make_user, paid_order

pytestmark = pytest.mark.postgres


@pytest.fixture
def swept_at_once(settings) -> Iterator[None]:
    """Events are due for the sweep as soon as they are written (no grace)."""
    old = settings.outbox_grace_s, settings.outbox_retry_s
    settings.outbox_grace_s = settings.outbox_retry_s = 0.0
    yield
    settings.outbox_grace_s, settings.outbox_retry_s = old


async def _heat(merchant_id: int) -> tuple[int, int, int]:
    """(facts, orders in the heat map's cells, the merchant's weekly counter)."""
    return (
        await GeoOrderFact.filter(merchant_id=merchant_id).count(),
        sum(c.orders for c in await HeatCell.all()),
        sum(t.value for t in await MerchantTaskCounter.filter(merchant_id=merchant_id)),
    )


async def test_a_failing_heat_map_neither_refuses_nor_delays_the_payment_and_is_applied_later(
    db, swept_at_once, monkeypatch
):
    failing = [True]
    calls: list[int] = []
    real = hooks.on_order_events

    async def flaky(events: Sequence[outbox.Event]) -> None:
        calls.extend(e.payload["order_id"] for e in events)
        if failing[0]:
            raise RuntimeError("discovery is down")
        await real(events)

    monkeypatch.setattr(hooks, "on_order_events", flaky)
    hooks.register()
    try:
        consumer, shop = await make_user(), await make_merchant()
        order = await checkout.create_order(
            consumer_id=consumer.id, merchant_id=shop.id, amount_fen=1_500, idempotency_key="k"
        )
        # when the order is paid while the heat map's consumer raises
        paid = await orders.mark_paid(
            order.id, channel=order.channel, channel_txn_id="t", amount_fen=order.cash_fen
        )
        await outbox.drain()
        # then the payment stands, and its event was offered and is still owed
        assert paid.status == OrderStatus.PAID
        assert (await orders.Order.get(id=order.id)).status == OrderStatus.PAID
        assert calls == [order.id]
        assert await _heat(shop.id) == (0, 0, 0)
        event = await OutboxEvent.get(kind=outbox.EventKind.ORDER_PAID)
        assert event.done_at is None and event.payload["order_id"] == order.id
        # and a sweep while it still fails leaves it owed
        assert await outbox.sweep() == 0
        assert calls == [order.id, order.id]
        # when discovery is back, the worker's next sweep applies it, once
        failing[0] = False
        assert await worker.deliver_events({}) == 1
        assert await _heat(shop.id) == (1, 1, 1)
        assert (await OutboxEvent.get(id=event.id)).done_at is not None
        # and later sweeps and a repeat of the event change nothing
        assert await outbox.sweep() == 0
        await real([outbox.Event(event.kind, event.subject, event.payload, event.id)])
        assert await _heat(shop.id) == (1, 1, 1)
    finally:
        monkeypatch.undo()
        hooks.register()


async def test_a_payment_is_answered_before_its_consumers_run(db, monkeypatch):
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(events: Sequence[outbox.Event]) -> None:
        started.set()
        await release.wait()

    outbox.register_consumer("test.slow", slow, [outbox.EventKind.ORDER_PAID])
    try:
        consumer, shop = await make_user(), await make_merchant()
        order = await checkout.create_order(
            consumer_id=consumer.id, merchant_id=shop.id, amount_fen=900, idempotency_key="k"
        )
        # when a consumer of `order.paid` takes its time
        paid = await asyncio.wait_for(
            orders.mark_paid(
                order.id, channel=order.channel, channel_txn_id="t", amount_fen=order.cash_fen
            ),
            timeout=5,
        )
        # then the payment has answered, and the consumer has the event all the same
        assert paid.status == OrderStatus.PAID
        await asyncio.wait_for(started.wait(), timeout=5)
        release.set()
        await outbox.drain()
        assert (await OutboxEvent.get(kind=outbox.EventKind.ORDER_PAID)).done_at is not None
    finally:
        outbox.unregister_consumer("test.slow")


async def test_each_consumer_gets_an_event_once_and_a_failed_one_again(db, swept_at_once):
    got: dict[str, list[str]] = {"a": [], "b": []}
    b_fails = [True]

    async def a(events: Sequence[outbox.Event]) -> None:
        got["a"].extend(e.subject for e in events)

    async def b(events: Sequence[outbox.Event]) -> None:
        got["b"].extend(e.subject for e in events)
        if b_fails[0]:
            raise RuntimeError("b is down")

    outbox.register_consumer("test.a", a, ["order.settled"])
    outbox.register_consumer("test.b", b, ["order.settled", "order.refunded"])
    try:
        consumer, shop = await make_user(), await make_merchant()
        o = await paid_order(consumer, shop, 1_000)
        # when an order is settled (its event written in the settlement's transaction)
        assert await orders.settle_order(o.id) == 1
        await outbox.drain()
        subject = f"order:{o.id}"
        # then both consumers had it right after the commit; b failed and is owed it
        assert got == {"a": [subject], "b": [subject]}
        event = await OutboxEvent.get(kind="order.settled")
        assert event.done_at is None
        # (partner webhooks' consumer watches settlements too, and took it)
        assert sorted(
            await OutboxDelivery.filter(event_id=event.id).values_list("consumer", flat=True)
        ) == ["test.a", WEBHOOKS]
        # when b is back, the sweep gives it to b alone, and the event is done
        b_fails[0] = False
        assert await outbox.sweep() == 1
        assert got == {"a": [subject], "b": [subject, subject]}
        assert (await OutboxEvent.get(id=event.id)).done_at is not None
        assert await outbox.sweep() == 0
    finally:
        outbox.unregister_consumer("test.a")
        outbox.unregister_consumer("test.b")


async def test_events_no_one_watches_are_retired_and_old_ones_forgotten(db, swept_at_once):
    consumer, shop = await make_user(), await make_merchant()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=shop.id, amount_fen=700, idempotency_key="k"
    )
    # `order.created` is written with the order (no consumer watches it yet)
    created = await OutboxEvent.get(kind=outbox.EventKind.ORDER_CREATED)
    assert created.subject == f"order:{order.id}"
    assert created.payload == {
        "order_id": order.id,
        "consumer_id": consumer.id,
        "merchant_id": shop.id,
        "amount_fen": 700,
        "voucher_fen": 0,
        "cash_fen": 700,
        "channel": order.channel,
        "status": "created",  # (a counter order's says `unconfirmed`: the POS hears which)
    }
    # a sweep marks it done, as nobody is owed it
    await outbox.sweep()
    assert (await OutboxEvent.get(id=created.id)).done_at is not None
    # and events done long enough ago are forgotten
    assert await outbox.purge_done(timedelta(0)) >= 1
    assert not await OutboxEvent.filter(id=created.id).exists()


async def test_a_refund_tells_the_heat_map_through_its_event(db):
    consumer, shop = await make_user(), await make_merchant()
    o = await paid_order(consumer, shop, 2_000)
    assert await _heat(shop.id) == (1, 1, 1)
    # when the whole order is refunded
    await orders.refund_order(o.id, 2_000, refund_key="r1")
    await outbox.drain()
    # then its event took it out of the heat map's cells
    event = await OutboxEvent.get(kind=outbox.EventKind.ORDER_REFUNDED)
    assert event.payload["refunded_fen"] == 2_000 and event.done_at is not None
    assert sum(c.orders for c in await HeatCell.all()) == 0
    assert sum(c.amount_fen for c in await HeatCell.all()) == 0


def test_a_consumer_is_named_within_the_delivery_records_limit():
    async def nothing(events: Sequence[outbox.Event]) -> None:
        return None

    with pytest.raises(ValueError):
        outbox.register_consumer("", nothing, ["order.paid"])
    with pytest.raises(ValueError):
        outbox.register_consumer("x" * 65, nothing, ["order.paid"])


async def test_a_merchant_reaches_the_index_through_its_events_even_after_a_failure(
    db, swept_at_once, monkeypatch
):
    async def down(merchant_id: int) -> bool:
        raise RuntimeError("Redis is away")

    # given the index cannot be written when the merchant is approved
    monkeypatch.setattr(index, "sync_merchant", down)
    shop = await make_merchant()
    # then the approval stands, and its events were written with it
    assert shop.status == MerchantStatus.APPROVED
    kinds = set(
        await OutboxEvent.filter(subject=f"merchant:{shop.id}").values_list("kind", flat=True)
    )
    assert kinds == {outbox.EventKind.MERCHANT_APPROVED, outbox.EventKind.MERCHANT_CHANGED}
    assert await get_redis().zrank(index.K_ALL, str(shop.id)) is None
    # when the index is back, the sweep lists the merchant
    monkeypatch.undo()
    assert await outbox.sweep() >= 1
    assert await get_redis().zrank(index.K_ALL, str(shop.id)) is not None


async def test_a_binding_is_an_event(db):
    consumer, shop = await make_user(), await make_merchant()
    binding = await merchants.bind_by_qr(consumer.id, merchants.merchant_qr(shop.id))
    assert binding.merchant_id == shop.id
    bound = await OutboxEvent.get(kind=outbox.EventKind.CUSTOMER_BOUND)
    assert bound.subject == f"user:{consumer.id}"
    assert bound.payload["merchant_id"] == shop.id
    # scanning again binds nothing more, and says nothing more
    await merchants.bind_by_qr(consumer.id, merchants.merchant_qr(shop.id))
    assert await OutboxEvent.filter(kind=outbox.EventKind.CUSTOMER_BOUND).count() == 1
