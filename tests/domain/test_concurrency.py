"""Orders under concurrency, on real PostgreSQL (SPEC §3, §5, §10).

Many coroutines at once through the real domain functions, over the asyncpg pool (up to
`app.infra.db.PG_POOL_DEFAULTS["maxsize"]` connections in parallel): row locks, the ledger's
key-ordered account locks and the idempotency keys must leave exactly one outcome.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

import pytest
from tortoise import connections

from app.domain import orders
from app.domain.ledger import acct, balance_of
from app.domain.ledger.verify import verify_ledger
from app.infra import outbox
from app.infra.errors import DomainError
from app.models.ledger import Account, LedgerEntry
from app.models.orders import Order, OrderRefund, OrderStatus, PointLot
from app.services import checkout
from tests.factories import give_vouchers, make_merchant, make_user, paid_order

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def fresh_payment_state(settings, monkeypatch):
    """Order ids restart with every test: so must the payment channel's Redis state."""
    monkeypatch.setattr(settings, "payment_redis_prefix", f"conctest:{secrets.token_hex(6)}")


def outcomes(results: list) -> Counter[str]:
    """'ok' or the DomainError code of each result; anything else is a bug: re-raised."""
    seen: Counter[str] = Counter()
    for r in results:
        if isinstance(r, DomainError):
            seen[str(r.code)] += 1
        elif isinstance(r, BaseException):
            raise r
        else:
            seen["ok"] += 1
    return seen


async def assert_ledger_sound() -> None:
    # what follows the payments (the heat map's task rewards) posts entries of its own:
    # verified once it has run, not while it writes accounts the check has not read
    await outbox.drain()
    report = await verify_ledger()
    assert report.ok, report.problem
    negative = await Account.filter(balance__lt=0, allow_negative=False).values("name", "balance")
    assert not negative


async def test_parallel_connections_are_available(db):
    # given the app's PostgreSQL pool
    # when 8 connections sleep at once
    async def nap() -> None:
        await connections.get("default").execute_query("SELECT pg_sleep(0.3)")

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(nap() for _ in range(8)))
    # then they slept side by side, not one after another
    assert asyncio.get_running_loop().time() - started < 1.5


async def test_200_concurrent_voucher_spends_never_overdraw(db):
    # given a wallet holding 37 spends of 500 and some change
    consumer, merchant = await make_user(), await make_merchant(discount_bps=1000)
    spend, balance = 500, 37 * 500 + 123
    await give_vouchers(consumer.id, balance)

    # when 200 orders spend 500 each at once: half wholly in vouchers (paid at once),
    # half with cash on top (vouchers held until payment)
    async def spend_once(i: int) -> Order:
        return await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=merchant.id,
            amount_fen=spend if i % 2 else spend + 300,
            voucher_fen=spend,
            idempotency_key=f"spend-{i}",
        )

    results = await asyncio.gather(*(spend_once(i) for i in range(200)), return_exceptions=True)

    # then exactly balance // spend succeeded and the rest were refused as insufficient
    seen = outcomes(results)
    assert seen == {"ok": balance // spend, "VOUCHER_INSUFFICIENT": 200 - balance // spend}
    assert await Order.all().count() == balance // spend
    assert await balance_of(acct.consumer_voucher(consumer.id)) == balance % spend
    held = sum(o.voucher_fen for o in await Order.filter(status=OrderStatus.PAYING))
    assert await balance_of(acct.consumer_voucher_held(consumer.id)) == held
    paid = await Order.filter(status=OrderStatus.PAID).count()
    assert held + paid * spend == balance // spend * spend
    await assert_ledger_sound()


async def test_50_concurrent_confirmations_credit_once(db):
    # given an order waiting for its payment
    consumer, merchant = await make_user(), await make_merchant()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=8_800, idempotency_key="o"
    )

    # when the same notification is applied 50 times at once
    results = await asyncio.gather(
        *(
            orders.mark_paid(
                order.id, channel=order.channel, channel_txn_id="txn-1", amount_fen=8_800
            )
            for _ in range(50)
        ),
        return_exceptions=True,
    )

    # then every call sees the order paid, and it was credited once
    assert outcomes(results) == {"ok": 50}
    assert {r.status for r in results} == {OrderStatus.PAID}
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    assert await PointLot.filter(order_id=order.id).count() == 2
    assert await balance_of(acct.merchant_payable(merchant.id)) == 8_800 - 880
    await assert_ledger_sound()


async def test_50_concurrent_different_transactions_one_wins(db):
    # given an order waiting for its payment
    consumer, merchant = await make_user(), await make_merchant()
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=merchant.id, amount_fen=5_000, idempotency_key="o"
    )

    # when 50 different transactions claim to pay it at once
    results = await asyncio.gather(
        *(
            orders.mark_paid(
                order.id, channel=order.channel, channel_txn_id=f"txn-{i}", amount_fen=5_000
            )
            for i in range(50)
        ),
        return_exceptions=True,
    )

    # then one is applied and 49 are duplicates to refund
    assert outcomes(results) == {"ok": 1, "DUPLICATE_PAYMENT": 49}
    winner = next(r for r in results if not isinstance(r, BaseException))
    assert (await Order.get(id=order.id)).channel_txn_id == winner.channel_txn_id
    assert await LedgerEntry.filter(kind="order_paid").count() == 1
    await assert_ledger_sound()


async def test_concurrent_refund_and_confirmation_end_valid(db):
    # given 20 unpaid orders and 20 paid ones
    consumer, merchant = await make_user(), await make_merchant(discount_bps=1500)
    unpaid = [
        await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=merchant.id,
            amount_fen=3_000 + i,
            idempotency_key=f"u{i}",
        )
        for i in range(20)
    ]
    paid = [await paid_order(consumer, merchant, 4_000 + i) for i in range(20)]

    # when each unpaid order gets its confirmation and a full refund at once, and each
    # paid order a repeated confirmation, a full refund and a partial refund at once
    calls = []
    for o in unpaid:
        calls += [
            orders.mark_paid(
                o.id, channel=o.channel, channel_txn_id=f"t{o.id}", amount_fen=o.cash_fen
            ),
            orders.refund_order(o.id, o.amount_fen, refund_key=f"full{o.id}"),
        ]
    for o in paid:
        calls += [
            orders.mark_paid(
                o.id, channel=o.channel, channel_txn_id=o.channel_txn_id, amount_fen=o.cash_fen
            ),
            orders.refund_order(o.id, o.amount_fen, refund_key=f"full{o.id}"),
            orders.refund_order(o.id, 1_000, refund_key=f"part{o.id}"),
        ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    seen = outcomes(results)

    # then every confirmation applied, refunds either ran on a paid order or were refused
    # as not paid (yet) / exceeding what is left, and each order's state matches its rows
    assert set(seen) <= {"ok", "INVALID_STATE", "REFUND_EXCEEDS_PAID"}
    for o in unpaid + paid:
        now = await Order.get(id=o.id)
        refunds = await OrderRefund.filter(order_id=o.id).values_list("amount_fen", flat=True)
        assert now.refunded_fen == sum(refunds) <= now.amount_fen
        assert await LedgerEntry.filter(kind="order_paid", ref=f"order:{o.id}").count() == 1
        assert await LedgerEntry.filter(kind="order_refund", ref=f"order:{o.id}").count() == len(
            refunds
        )
        if now.refunded_fen == 0:
            assert now.status == OrderStatus.PAID
        elif now.refunded_fen == now.amount_fen:
            assert now.status == OrderStatus.REFUNDED
        else:
            assert now.status == OrderStatus.PARTIALLY_REFUNDED
    await assert_ledger_sound()


async def test_concurrent_close_and_confirmation_one_wins(db):
    # given 20 orders partly paid with held vouchers
    consumer, merchant = await make_user(), await make_merchant()
    await give_vouchers(consumer.id, 20 * 200)
    created = [
        await checkout.create_order(
            consumer_id=consumer.id,
            merchant_id=merchant.id,
            amount_fen=1_000,
            voucher_fen=200,
            idempotency_key=f"c{i}",
        )
        for i in range(20)
    ]

    # when each is closed and confirmed at the same time
    calls = []
    for o in created:
        calls += [
            orders.close_order(o.id),
            orders.mark_paid(o.id, channel=o.channel, channel_txn_id=f"t{o.id}", amount_fen=800),
        ]
    outcomes(await asyncio.gather(*calls, return_exceptions=True))

    # then each order is either closed (vouchers back) or paid (vouchers spent), never both
    states = Counter([o.status for o in await Order.all()])
    assert set(states) <= {OrderStatus.CLOSED, OrderStatus.PAID}
    closed = states[OrderStatus.CLOSED]
    assert await balance_of(acct.consumer_voucher(consumer.id)) == closed * 200
    assert await balance_of(acct.consumer_voucher_held(consumer.id)) == 0
    assert await LedgerEntry.filter(kind="order_paid").count() == states[OrderStatus.PAID]
    await assert_ledger_sound()


async def test_concurrent_partial_refunds_never_exceed_the_order(db):
    # given a paid order of 10,000 fen
    consumer, merchant = await make_user(), await make_merchant()
    order = await paid_order(consumer, merchant, 10_000)

    # when 12 refunds of 2,500 arrive at once
    results = await asyncio.gather(
        *(orders.refund_order(order.id, 2_500, refund_key=f"r{i}") for i in range(12)),
        return_exceptions=True,
    )

    # then four ran and the rest found it refunded in full; nothing ran twice
    assert outcomes(results) == {"ok": 4, "INVALID_STATE": 8}  # refunded in full
    order = await Order.get(id=order.id)
    assert order.status == OrderStatus.REFUNDED and order.refunded_fen == 10_000
    assert await balance_of(acct.merchant_payable(merchant.id)) == 0
    await assert_ledger_sound()


async def test_concurrent_create_with_one_idempotency_key_makes_one_order(db):
    # given a consumer with vouchers
    consumer, merchant = await make_user(), await make_merchant()
    await give_vouchers(consumer.id, 1_000)

    # when the same request (same key) arrives 30 times at once
    results = await asyncio.gather(
        *(
            checkout.create_order(
                consumer_id=consumer.id,
                merchant_id=merchant.id,
                amount_fen=2_000,
                voucher_fen=300,
                idempotency_key="same-key",
            )
            for _ in range(30)
        ),
        return_exceptions=True,
    )

    # then one order exists, every call got it, and the vouchers were held once
    assert outcomes(results) == {"ok": 30}
    assert await Order.all().count() == 1
    assert {r.id for r in results} == {(await Order.get()).id}
    assert await balance_of(acct.consumer_voucher(consumer.id)) == 700
    assert await balance_of(acct.consumer_voucher_held(consumer.id)) == 300
    await assert_ledger_sound()


async def test_concurrent_settle_runs_settle_each_order_once(db):
    # given 10 paid orders whose window has passed
    consumer, merchant = await make_user(), await make_merchant()
    placed = [await paid_order(consumer, merchant, 1_000 + i) for i in range(10)]
    at = placed[0].settle_on

    # when three settle jobs run at once
    counts = await asyncio.gather(*(orders.settle_due(at) for _ in range(3)))

    # then together they settled each order once
    assert sum(counts) == 10
    assert await LedgerEntry.filter(kind="order_settled").count() == 10
    assert await balance_of(acct.consumer_points(consumer.id, "pending")) == 0
    await assert_ledger_sound()


async def test_concurrent_posts_with_one_idempotency_key_write_one_entry(db):
    from app.domain.ledger import Entry, Post, post

    results = await asyncio.gather(
        *[
            post(
                Entry(
                    "test", "t", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 10)], idem_key="same"
                )
            )
            for _ in range(20)
        ],
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results}) == 1
    assert await LedgerEntry.filter(idem_key="same").count() == 1
    assert await balance_of(acct.PLATFORM_REVENUE) == 10


async def test_concurrent_first_scans_bind_a_consumer_once(db):
    from app.domain import merchants
    from app.models.merchants import ConsumerBinding

    shops = [await make_merchant() for _ in range(4)]
    consumer = await make_user()
    # when the consumer's first scans of four stores land at the same time
    results = await asyncio.gather(
        *(merchants.bind_by_qr(consumer.id, merchants.merchant_qr(m.id)) for m in shops),
        return_exceptions=True,
    )
    # then one binding exists and every call answers with that one
    rows = await ConsumerBinding.filter(consumer_id=consumer.id)
    assert len(rows) == 1
    assert {r.merchant_id for r in results if not isinstance(r, BaseException)} == {
        rows[0].merchant_id
    }


async def test_entries_creating_accounts_concurrently_never_deadlock(db):
    """Accounts come into being inside entries (a first order at a store, a new agent):
    an id handed out before another entry's lock but committed after it sorts below
    what that entry holds, so the locks must never be taken in two passes."""
    from app.domain.ledger import AccountName, Entry, Post, post
    from app.models.ledger import Asset

    shared = [AccountName(f"shared:{i}", Asset.CNY) for i in range(3)]

    def fresh(i: int) -> AccountName:
        return AccountName(f"fresh:{i}", Asset.CNY)

    async def entry(i: int) -> None:
        # each entry touches every shared account and two new ones its neighbours share
        postings = [Post(acct.WORLD_CNY, a, 1) for a in shared]
        postings += [
            Post(acct.WORLD_CNY, fresh(i // 2), 1),
            Post(acct.WORLD_CNY, fresh(i // 2 + 1), 1),
        ]
        await post(Entry("t", f"e:{i}", postings, idem_key=f"deadlock:{i}"))

    for rnd in range(5):
        base = rnd * 1000
        # when 40 entries, many of them creating accounts, run at once
        results = await asyncio.gather(
            *(entry(base + i) for i in range(40)), return_exceptions=True
        )
        # then none fails (a deadlock would abort one) and every balance adds up
        assert [r for r in results if isinstance(r, BaseException)] == []
    for a in shared:
        assert await balance_of(a) == 200
    report = await verify_ledger()
    assert report.ok, report.problem
