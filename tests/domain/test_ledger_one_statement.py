"""The entry statement on PostgreSQL: remembered account ids checked against their
names, balance rules, a repeated key racing its first writer, guarded entries with typed
writes, and a guarded payment that is durable before it returns."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from app.domain import ledger, orders
from app.domain.ledger import (
    Column,
    Entry,
    Eq,
    Guard,
    GuardRefused,
    In,
    Overdraft,
    Post,
    Update,
    acct,
    balance_of,
    core,
    post,
    post_with,
)
from app.domain.ledger.core import _ACCOUNT_IDS, StaleAccountIds, entry_hash
from app.domain.ledger.seal import seal_pending
from app.domain.ledger.verify import verify_ledger
from app.models.ledger import Account, LedgerEntry
from app.models.orders import Order, OrderStatus
from app.models.users import User
from app.services import checkout
from tests.factories import make_merchant, make_user

pytestmark = pytest.mark.postgres


async def test_an_id_that_names_another_account_writes_nothing(db):
    # given two accounts whose ids the ledger remembers
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)]))
    a = await Account.get(name=acct.merchant_payable(1).name)
    b_name = acct.merchant_payable(2)
    await post(Entry("test", "t:2", [Post(acct.WORLD_CNY, b_name, 100)]))
    # (ids are remembered once seen committed: by an entry that created no account)
    await post(Entry("test", "t:2b", [Post(b_name, acct.merchant_payable(1), 1)]))
    # when the table is rewritten under the process, so the remembered id of
    # merchant 1's account now belongs to a different account
    conn = connections.get("default")
    await conn.execute_query("UPDATE ledger_accounts SET name = 'moved' WHERE id = $1", [a.id])
    await conn.execute_query(
        "INSERT INTO ledger_accounts (name, asset, balance, allow_negative, created_at) "
        "VALUES ($1, 'CNY', 0, FALSE, now())",
        [acct.merchant_payable(1).name],
    )
    assert _ACCOUNT_IDS[acct.merchant_payable(1)] == a.id
    entries = await LedgerEntry.all().count()
    # then an entry on it is refused whole, and the ids are forgotten
    with pytest.raises(StaleAccountIds):
        await post(Entry("test", "t:3", [Post(acct.merchant_payable(1), b_name, 50)]))
    assert await LedgerEntry.all().count() == entries
    assert await balance_of(b_name) == 99
    assert not _ACCOUNT_IDS
    # and the next entry finds the right rows again
    await post(Entry("test", "t:4", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 70)]))
    assert await balance_of(acct.merchant_payable(1)) == 70
    assert (await Account.get(id=a.id)).balance == 501  # the moved row is untouched


async def test_a_stale_id_of_an_account_without_a_rule_is_caught_too(db):
    # accounts that may go negative are not locked, but their ids are checked all the same
    clearing = acct.channel_clearing("sandbox")
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, clearing, 5)]))
    await post(Entry("test", "t:2", [Post(clearing, acct.WORLD_CNY, 1)]))
    conn = connections.get("default")
    await conn.execute_query(
        "UPDATE ledger_accounts SET name = 'moved' WHERE id = $1", [_ACCOUNT_IDS[clearing]]
    )
    with pytest.raises(StaleAccountIds):
        await post(Entry("test", "t:3", [Post(acct.WORLD_CNY, clearing, 7)]))
    assert await LedgerEntry.all().count() == 2


async def test_sealing_hashes_the_chain_as_entry_hash_says(db):
    for i in range(3):
        await post(Entry("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 10 + i)]))
    await seal_pending()
    prev = ""
    for e in await LedgerEntry.all().order_by("seq"):
        assert e.prev_hash == prev
        assert e.hash == entry_hash(
            prev, e.seq, e.kind, e.ref, e.created_at, e.posting_count, e.postings_digest
        )
        prev = e.hash
    assert (await verify_ledger()).ok


async def test_overdraft_names_the_account_and_its_balance_after(db):
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 30)]))
    with pytest.raises(Overdraft) as refused:
        await post(
            Entry(
                "test",
                "t:2",
                [
                    Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 5),
                    Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 31),
                ],
            )
        )
    assert refused.value.account == acct.merchant_payable(1)
    assert refused.value.balance_after == -1
    assert refused.value.field is None  # the caller names its own input
    assert await balance_of(acct.PLATFORM_REVENUE) == 0
    assert await LedgerEntry.all().count() == 1


@pytest.mark.parametrize(
    "destination",
    [acct.PLATFORM_REVENUE, acct.channel_clearing("sandbox")],
    ids=["locked account", "account without a rule"],
)
async def test_a_repeated_key_racing_its_first_writer_moves_nothing(db, destination):
    # given an entry written in a transaction that has not committed yet
    entry = Entry("test", "t:1", [Post(acct.WORLD_CNY, destination, 9)], idem_key="race")
    await post(Entry("test", "t:0", [Post(acct.WORLD_CNY, destination, 1)]))  # ids known
    outside = contextvars.copy_context()  # the second writer's own connection
    async with in_transaction() as tx:
        first = await post(entry, conn=tx)
        second = asyncio.get_running_loop().create_task(post(entry), context=outside)
        await asyncio.sleep(0.3)
        # then the second writer of the key waits for the first (its row or its key)
        assert not second.done()
    # and when the first commits, the second hands back its entry and moves nothing
    assert (await second).id == first.id
    assert await balance_of(destination) == 10
    assert await LedgerEntry.filter(idem_key="race").count() == 1


async def test_a_guarded_entry_outside_a_transaction_is_whole_or_nothing(db):
    conn = connections.get("default")  # a plain client: each statement commits on its own
    u = await make_user()

    def guarded(n: int, posting: Post, rename_to: str, when_named: str):
        return post_with(
            Entry("test", f"t:{n}", [posting], idem_key=f"g{n}"),
            writes=[Update("users", {"nickname": rename_to}, (Eq("id", u.id),))],
            guard=Guard("users", u.id, (Eq("nickname", when_named),)),
            conn=conn,
        )

    # when the guard finds its row as asked, the entry and its gated write are made
    written = await guarded(
        1, Post(acct.WORLD_CNY, acct.merchant_payable(1), 40), "paid", u.nickname
    )
    assert written.entry.seq is None  # sealed later
    assert (await User.get(id=u.id)).nickname == "paid"
    # when it does not (the row moved on), nothing is written and the caller is told
    with pytest.raises(GuardRefused):
        await guarded(2, Post(acct.WORLD_CNY, acct.merchant_payable(1), 5), "again", u.nickname)
    # and when the ledger refuses the entry, its gated write is not made either, though
    # no transaction is there to roll it back
    with pytest.raises(Overdraft):
        await guarded(3, Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 41), "x", "paid")
    assert (await User.get(id=u.id)).nickname == "paid"
    assert await balance_of(acct.merchant_payable(1)) == 40
    assert await LedgerEntry.all().count() == 1
    assert (await verify_ledger()).ok


async def test_a_guarded_entry_inside_a_transaction_commits_with_it(db):
    u = await make_user()
    async with in_transaction() as tx:
        await post_with(
            Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 3)], idem_key="k"),
            writes=[Update("users", {"nickname": "in-tx"}, (Eq("id", u.id),))],
            guard=Guard("users", u.id),
            conn=tx,
        )
    assert (await User.get(id=u.id)).nickname == "in-tx"
    assert await balance_of(acct.PLATFORM_REVENUE) == 3


async def test_writes_read_back_their_declared_columns(db):
    a, b = await make_user(), await make_user()
    written = await post_with(
        Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 2)], idem_key="rb"),
        writes=[
            Update(
                "users",
                {"nickname": "read-back"},
                (In("id", (a.id, b.id)),),
                returning=(Column("id", "bigint"), Column("nickname", "text")),
            ),
            Update("users", {"nickname": "other"}, (Eq("id", 0),)),  # no row, no read-back
        ],
    )
    # the first write's rows, typed as declared; the second declared none
    assert sorted(written.rows(0), key=lambda r: r["id"]) == [
        {"id": a.id, "nickname": "read-back"},
        {"id": b.id, "nickname": "read-back"},
    ]
    assert written.rows(1) == []


async def test_a_payment_returns_only_once_it_is_on_disk(db, monkeypatch):
    """The payment's statement commits without waiting for the WAL flush (its locks go
    at once); `mark_paid` must not return before a flush has passed its commit, and
    neither must a repeat that found it paid (its answer acknowledges it too)."""
    conn = connections.get("default")
    waits: list[str] = []
    real_wait = core.wait_durable

    async def wait_seen(c):
        # the statement has committed by now: the WAL written so far includes it
        rows = await conn.execute_query_dict("SELECT pg_current_wal_insert_lsn()::text AS at")
        waits.append(rows[0]["at"])
        await real_wait(c)

    monkeypatch.setattr(core, "wait_durable", wait_seen)
    monkeypatch.setattr(ledger, "wait_durable", wait_seen)
    m, c = await make_merchant(), await make_user()
    o = await checkout.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=1_000, idempotency_key="k1"
    )
    await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    assert len(waits) == 1
    rows = await conn.execute_query_dict(
        "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn AS durable", [waits[0]]
    )
    assert rows[0]["durable"]
    # and a repeated notification, answered from the order row, waits too
    await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    assert len(waits) == 2


async def test_a_guard_and_a_ledger_that_disagree_write_nothing_and_say_so(db):
    # given an order whose payment entry exists although the order is still unpaid
    # (a state no code path makes: the entry and the order move in one statement)
    m, c = await make_merchant(), await make_user()
    o = await checkout.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=1_000, idempotency_key="k1"
    )
    await post(
        Entry(
            "test", f"order:{o.id}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1)],
            idem_key=f"order:{o.id}:paid",
        )
    )  # fmt: skip
    # when its payment arrives, it is refused loudly rather than reported as applied
    with pytest.raises(RuntimeError, match="exists"):
        await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    assert (await Order.get(id=o.id)).status != OrderStatus.PAID
    assert await LedgerEntry.filter(kind="order_paid").count() == 0
