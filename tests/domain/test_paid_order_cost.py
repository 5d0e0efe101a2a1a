"""What a paid order costs: the SQL statements and Redis round trips of `createOrder` +
the payment, pinned, so a change that adds one fails here and not only in a benchmark
(Saleor's `count_queries` is the model).

SQL is counted at the driver: every connection of the pool gets an asyncpg query logger
(`add_query_logger`, given to new connections by the pool's `init`, which Tortoise passes
through). Redis round trips are counted at the connection: each `send_packed_command`
is one (a pipeline or `run_commands` sends its commands at once). Each is put down to
the request or to the delivery of its events after the commit (`outbox.delivering`:
the logger runs in the context of the code that sent the statement), which never
delays the answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from tortoise import Tortoise

from app.domain import orders
from app.infra import outbox
from app.infra.config import get_settings
from app.infra.db import close_db, init_db, tortoise_config
from app.infra.redis import close_redis, set_redis
from app.models.geo import GeoOrderFact, HeatCell, MerchantTaskCounter
from app.services import checkout
from app.services.discovery import HEATMAP
from app.services.live import LIVE
from app.services.webhooks import WEBHOOKS
from tests.factories import give_vouchers, make_merchant, make_user, paid_order

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@dataclass
class Cost:
    # (who sent it: None for the request, else the consumer or the outbox; what)
    statements: list[tuple[str | None, str]] = field(default_factory=list)
    round_trips: list[str | None] = field(default_factory=list)

    async def taken(self, by: str | None = None) -> tuple[Counter[str], int]:
        """What `by` (None: the request) spent since the last call: statements by their
        first word, and the Redis round trips."""
        await outbox.drain()
        for _ in range(3):  # the query logger reports on the loop's next turn
            await asyncio.sleep(0)
        kinds = Counter(_kind(q) for who, q in self.statements if who == by)
        trips = sum(1 for who in self.round_trips if who == by)
        self.statements = [(who, q) for who, q in self.statements if who != by]
        self.round_trips = [who for who in self.round_trips if who != by]
        return kinds, trips

    def clear(self) -> None:
        self.statements.clear()
        self.round_trips.clear()


# asyncpg's own queries the first time a connection of the pool meets a type (the array
# parameters of a batch statement): once per connection, not per order
_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit'")


def _introspection(query: str) -> bool:
    return any(marker in query for marker in _INTROSPECTION)


# What redis-py sends when it opens a connection (its name, its library, its logical
# database): once per connection of a pool, which consumers working side by side may
# have to open, not per order.
_GREETING = (b"CLIENT", b"SELECT", b"HELLO", b"AUTH")


def _handshake(command: Any) -> bool:
    first = command[0] if isinstance(command, list | tuple) and command else command
    head = first[:40] if isinstance(first, bytes) else b""
    return any(b"\r\n" + word + b"\r\n" in head for word in _GREETING)


def _kind(query: str) -> str:
    words = query.split()
    return words[0].upper() if words else ""


@pytest.fixture
async def cost(db) -> AsyncIterator[Cost]:
    seen = Cost()

    def logged(record: Any) -> None:
        if not _introspection(record.query):
            seen.statements.append((outbox.delivering.get(), record.query))

    async def observe(conn: Any) -> None:
        conn.add_query_logger(logged)

    class CountedConnection(aioredis.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            if not _handshake(command):
                seen.round_trips.append(outbox.delivering.get())
            await super().send_packed_command(command, check_health)

    config = tortoise_config()
    config["connections"]["default"]["credentials"]["init"] = observe
    await close_db()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    await close_redis()
    set_redis(
        aioredis.from_url(
            get_settings().redis_url, decode_responses=True, connection_class=CountedConnection
        )
    )
    try:
        yield seen
    finally:
        await close_redis()
        await close_db()
        await init_db()


async def test_a_paid_order_costs_six_statements_and_two_round_trips_before_its_answer(cost):
    consumer, shop = await make_user(), await make_merchant()
    for _ in range(2):  # warm: account ids known (seen committed), statements prepared
        await paid_order(consumer, shop, 1_000)
    await outbox.drain()
    cost.clear()
    # when an order is created and paid with cash only
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=shop.id, amount_fen=2_000, idempotency_key="cost-1"
    )
    created = await cost.taken()
    await orders.mark_paid(
        order.id, channel=order.channel, channel_txn_id="cost-t1", amount_fen=order.cash_fen
    )
    paid = await cost.taken()
    # create: the facts, the order with its payment and its event, the pay parameters
    # and the state; the channel's health and the provider's trade
    assert created == (Counter({"SELECT": 1, "WITH": 2}), 2)
    # pay: the order and who stands around it, the guarded entry with its event, the flush
    assert paid == (Counter({"SELECT": 2, "WITH": 1}), 0)
    # after the answer, the heat map's statement and the heat; the event marked done
    assert await cost.taken(HEATMAP) == (Counter({"WITH": 1}), 1)
    # live subscribers: the created and the paid notice, one PUBLISH pair each
    assert await cost.taken(LIVE) == (Counter(), 2)
    # partner webhooks: which subscriptions are owed the paid order (none here)
    assert await cost.taken(WEBHOOKS) == (Counter({"SELECT": 1}), 0)
    # both events marked done, the created one now too (it has a consumer): one
    # statement each here, shared with the other orders of the moment in a server
    assert await cost.taken(outbox.OUTBOX) == (Counter({"UPDATE": 2}), 0)
    assert not cost.statements and not cost.round_trips


async def test_a_paid_order_with_vouchers_costs_its_hold_in_one_transaction(cost):
    consumer, shop = await make_user(), await make_merchant()
    await give_vouchers(consumer.id, 10_000)
    for _ in range(2):
        await paid_order(consumer, shop, 1_000, voucher_fen=100)
    await outbox.drain()
    cost.clear()
    order = await checkout.create_order(
        consumer_id=consumer.id,
        merchant_id=shop.id,
        amount_fen=2_000,
        voucher_fen=200,
        idempotency_key="cost-2",
    )
    created = await cost.taken()
    await orders.mark_paid(
        order.id, channel=order.channel, channel_txn_id="cost-t2", amount_fen=order.cash_fen
    )
    paid = await cost.taken()
    # the hold is a ledger entry in a transaction with the order's insert; its commit
    # is an ordinary synchronous one (no chain head to release early: entries are
    # sealed later), so no flush of its own follows
    assert created == (Counter({"BEGIN;": 1, "WITH": 3, "COMMIT;": 1, "SELECT": 1}), 2)
    assert paid == (Counter({"SELECT": 2, "WITH": 1}), 0)
    assert await cost.taken(HEATMAP) == (Counter({"WITH": 1}), 1)
    # live subscribers: the created and the paid notice, one PUBLISH pair each
    assert await cost.taken(LIVE) == (Counter(), 2)
    # partner webhooks: which subscriptions are owed the paid order (none here)
    assert await cost.taken(WEBHOOKS) == (Counter({"SELECT": 1}), 0)
    # both events marked done, the created one now too (it has a consumer): one
    # statement each here, shared with the other orders of the moment in a server
    assert await cost.taken(outbox.OUTBOX) == (Counter({"UPDATE": 2}), 0)
    assert not cost.statements and not cost.round_trips


async def test_orders_paid_together_share_their_consumers_statements_and_round_trips(
    cost, settings, monkeypatch
):
    # a window wide enough that this machine's speed cannot split the batch
    monkeypatch.setattr(settings, "outbox_batch_window_s", 0.5)
    monkeypatch.setattr(settings, "outbox_batch_windows_s", {})
    consumer, shops = await make_user(), [await make_merchant() for _ in range(2)]
    for shop in shops:
        await paid_order(consumer, shop, 1_000)
    created = [
        await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=shops[i % 2].id,
            amount_fen=1_000 + i,
            idempotency_key=f"together-{i}",
        )
        for i in range(4)
    ]
    await outbox.drain()
    cost.clear()
    # when four orders at two shops are paid within the same moment
    await asyncio.gather(
        *(
            orders.mark_paid(
                o.id, channel=o.channel, channel_txn_id=f"t-{o.id}", amount_fen=o.cash_fen
            )
            for o in created
        )
    )
    before_answer, _ = await cost.taken()
    # (each its own entry; the flushes and account lookups are shared as they happen to
    # meet: the single-order tests above pin those)
    assert before_answer["WITH"] == 4
    # then the heat map wrote all four in one statement and their heat in one round trip
    assert await cost.taken(HEATMAP) == (Counter({"WITH": 1}), 1)
    # the eight live notices went out in one round trip
    assert await cost.taken(LIVE) == (Counter(), 1)
    # one lookup of the subscriptions owed any of them
    assert await cost.taken(WEBHOOKS) == (Counter({"SELECT": 1}), 0)
    # the four events marked done in one statement
    assert await cost.taken(outbox.OUTBOX) == (Counter({"UPDATE": 1}), 0)
    # and each order counts in the heat map once
    assert await GeoOrderFact.filter(order_id__in=[o.id for o in created]).count() == 4
    assert sum(c.orders for c in await HeatCell.all()) == 6
    counts = await MerchantTaskCounter.filter(merchant_id__in=[s.id for s in shops]).values_list(
        "value", flat=True
    )
    assert sorted(counts) == [3, 3]
