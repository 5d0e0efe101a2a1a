"""The PostgreSQL entry statement: remembered account ids, checked against their names."""

from __future__ import annotations

import pytest
from tortoise import connections

from app.domain.ledger import Overdraft, Post, acct, balance_of, post
from app.domain.ledger.core import _ACCOUNT_IDS, StaleAccountIds, entry_hash
from app.domain.ledger.verify import verify_ledger
from app.models.ledger import Account, LedgerEntry

pytestmark = pytest.mark.postgres


async def test_an_id_that_names_another_account_writes_nothing(db):
    # given two accounts whose ids the ledger remembers
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)])
    a = await Account.get(name=acct.merchant_payable(1).name)
    b_name = acct.merchant_payable(2)
    await post("test", "t:2", [Post(acct.WORLD_CNY, b_name, 100)])
    # (ids are remembered once seen committed: by an entry that created no account)
    await post("test", "t:2b", [Post(b_name, acct.merchant_payable(1), 1)])
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
        await post("test", "t:3", [Post(acct.merchant_payable(1), b_name, 50)])
    assert await LedgerEntry.all().count() == entries
    assert await balance_of(b_name) == 99
    assert not _ACCOUNT_IDS
    # and the next entry finds the right rows again
    await post("test", "t:4", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 70)])
    assert await balance_of(acct.merchant_payable(1)) == 70
    assert (await Account.get(id=a.id)).balance == 501  # the moved row is untouched


async def test_the_server_hashes_the_chain_as_python_does(db):
    # given entries written by the one statement
    for i in range(3):
        await post("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 10 + i)])
    # then each hash is entry_hash over the previous one, recomputed here
    prev = ""
    for e in await LedgerEntry.all().order_by("seq"):
        assert e.prev_hash == prev
        assert e.hash == entry_hash(
            prev, e.seq, e.kind, e.ref, e.created_at, e.posting_count, e.postings_digest
        )
        prev = e.hash
    assert (await verify_ledger()).ok


async def test_overdraft_names_the_account_and_its_balance_after(db):
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 30)])
    with pytest.raises(Overdraft) as refused:
        await post(
            "test",
            "t:2",
            [
                Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 5),
                Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 31),
            ],
        )
    assert refused.value.account == acct.merchant_payable(1)
    assert refused.value.balance_after == -1
    assert await balance_of(acct.PLATFORM_REVENUE) == 0
    assert await LedgerEntry.all().count() == 1


RENAME = "UPDATE users SET nickname = ? WHERE id = ? AND {go}"
GUARD = "SELECT id FROM users WHERE id = ?::bigint AND nickname = ?::text FOR UPDATE"


async def test_a_guarded_entry_outside_a_transaction_is_whole_or_nothing(db):
    from app.domain.ledger import GuardRefused
    from app.models.users import User
    from tests.factories import make_user

    conn = connections.get("default")  # a plain client: each statement commits on its own
    u = await make_user()

    def guarded(n: int, posting: Post, rename_to: str, when_named: str):
        return post(
            "test",
            f"t:{n}",
            [posting],
            idem_key=f"g{n}",
            conn=conn,
            key_locked=True,
            riders=[(RENAME, [rename_to, u.id])],
            guard=(GUARD, [u.id, when_named]),
        )

    # when the guard finds its row as asked, the entry and its gated rider are written
    entry = await guarded(1, Post(acct.WORLD_CNY, acct.merchant_payable(1), 40), "paid", u.nickname)
    assert entry.seq == 1
    assert (await User.get(id=u.id)).nickname == "paid"
    # when it does not (the row moved on), nothing is written and the caller is told
    with pytest.raises(GuardRefused):
        await guarded(2, Post(acct.WORLD_CNY, acct.merchant_payable(1), 5), "again", u.nickname)
    # and when the ledger refuses the entry, its gated rider is not made either, though
    # no transaction is there to roll it back
    with pytest.raises(Overdraft):
        await guarded(3, Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 41), "x", "paid")
    assert (await User.get(id=u.id)).nickname == "paid"
    assert await balance_of(acct.merchant_payable(1)) == 40
    assert await LedgerEntry.all().count() == 1
    assert (await verify_ledger()).ok


async def test_a_payment_returns_only_once_it_is_on_disk(db, monkeypatch):
    """The payment's statement commits without waiting for the WAL flush (its locks go
    at once); `mark_paid` must not return before the flush has passed its commit, and
    neither must a repeat that found it paid (its answer acknowledges it too)."""
    from app.domain import orders
    from app.domain.ledger import core
    from tests.factories import make_merchant, make_user

    conn = connections.get("default")
    seen: dict = {}
    waits: list[str] = []
    real_post, real_wait = core.post, core.wait_durable

    async def post_seeing(*a, **k):
        seen["out"] = k.setdefault("out", {})  # filled by the statement, before any wait
        return await real_post(*a, **k)

    async def wait_seen(c):
        waits.append((seen.get("out") or {}).get("wal_at", "before the statement"))
        await real_wait(c)

    monkeypatch.setattr(orders.ledger, "post", post_seeing)
    monkeypatch.setattr(core, "wait_durable", wait_seen)
    monkeypatch.setattr(orders.ledger, "wait_durable", wait_seen)
    m, c = await make_merchant(), await make_user()
    o = await orders.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=1_000, idempotency_key="k1"
    )
    # when the payment is applied
    await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    # then its commit did not wait for the disk, mark_paid waited for it after the
    # statement, and the WAL was flushed past the statement when it returned
    out = seen["out"]
    assert out["early_release"] == "off"
    assert waits == [out["wal_at"]]
    rows = await conn.execute_query_dict(
        "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn AS durable", [out["wal_at"]]
    )
    assert rows[0]["durable"]
    # and a repeated notification, answered from the order row, waits too
    await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    assert len(waits) == 2


async def test_a_voucher_hold_waits_for_the_disk_before_the_channel_call(db, monkeypatch):
    """The hold's transaction releases the chain head early; the order must be on disk
    before the channel hears of its trade number."""
    from app.dev.sandbox import Sandbox
    from app.domain import orders
    from app.models.orders import Order
    from tests.factories import give_vouchers, make_merchant, make_user

    steps: list[str] = []
    real_wait, real_create = orders.ledger.wait_durable, Sandbox.create_payment

    async def wait_seen(c):
        committed = await Order.all().count()  # another connection: sees commits only
        steps.append(f"durable after {committed} order(s) committed")
        await real_wait(c)

    async def create_seen(self, req):
        steps.append("channel")
        return await real_create(self, req)

    monkeypatch.setattr(orders.ledger, "wait_durable", wait_seen)
    monkeypatch.setattr(Sandbox, "create_payment", create_seen)
    m, c = await make_merchant(), await make_user()
    await give_vouchers(c.id, 5_000)
    await orders.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=10_000, voucher_fen=2_000,
        idempotency_key="v1",
    )  # fmt: skip
    assert steps == ["durable after 1 order(s) committed", "channel"]


async def test_a_guard_and_a_ledger_that_disagree_write_nothing_and_say_so(db):
    # given an order whose payment entry exists although the order is still unpaid
    # (a state no code path makes: the entry and the order move in one statement)
    from app.domain import orders
    from app.models.orders import Order, OrderStatus
    from tests.factories import make_merchant, make_user

    m, c = await make_merchant(), await make_user()
    o = await orders.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=1_000, idempotency_key="k1"
    )
    await post(
        "test", f"order:{o.id}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1)],
        idem_key=f"order:{o.id}:paid",
    )  # fmt: skip
    # when its payment arrives, it is refused loudly rather than reported as applied
    with pytest.raises(RuntimeError, match="exists"):
        await orders.mark_paid(o.id, channel=o.channel, channel_txn_id="t1", amount_fen=1_000)
    assert (await Order.get(id=o.id)).status != OrderStatus.PAID
    assert await LedgerEntry.filter(kind="order_paid").count() == 0


async def test_a_guarded_entry_refuses_to_run_inside_a_transaction(db):
    from tortoise.transactions import in_transaction

    from app.models.users import User

    guard = ("SELECT id FROM users WHERE id = ?::bigint FOR UPDATE", [1])
    entry = [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1)]
    # its commit must be its own (the wait for the disk follows it): no caller's
    # transaction, and none of post's own either
    with pytest.raises(ValueError, match="outside a transaction"):
        await post("test", "t:1", entry, idem_key="g", key_locked=True, guard=guard)
    with pytest.raises(ValueError, match="outside a transaction"):
        async with in_transaction() as tx:
            await post("test", "t:1", entry, idem_key="g", conn=tx, key_locked=True, guard=guard)
    assert await LedgerEntry.all().count() == 0
    assert await User.all().count() == 0
