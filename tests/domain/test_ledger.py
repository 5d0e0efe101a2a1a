"""The ledger: balanced entries, no overdraft, idempotency, the sealed hash chain."""

from __future__ import annotations

import pytest
from tortoise import connections

from app.domain.ledger import Entry, Overdraft, Post, acct, balance_of, post
from app.domain.ledger.seal import seal_pending
from app.domain.ledger.verify import verify_ledger
from app.models.ledger import Asset, LedgerEntry


async def test_post_moves_balances_and_chains(db):
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)]))
    await post(Entry("test", "t:2", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 200)]))
    assert await balance_of(acct.merchant_payable(1)) == 300
    assert await balance_of(acct.PLATFORM_REVENUE) == 200
    assert await balance_of(acct.WORLD_CNY) == -500
    # written unsealed: no chain link yet, and verify-ledger accepts the tail
    assert [e.seq for e in await LedgerEntry.all().order_by("id")] == [None, None]
    report = await verify_ledger()
    assert report.ok and (report.entries, report.unsealed) == (0, 2), report.problem
    # sealed in id order
    assert await seal_pending() == 2
    entries = await LedgerEntry.all().order_by("seq")
    assert [e.seq for e in entries] == [1, 2]
    assert entries[1].prev_hash == entries[0].hash != ""
    report = await verify_ledger()
    assert report.ok and (report.entries, report.unsealed) == (2, 0), report.problem
    # and sealing again finds nothing to do
    assert await seal_pending() == 0


async def test_overdraft_fails_whole_entry(db):
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 100)]))
    with pytest.raises(Overdraft):
        await post(
            Entry(
                "test",
                "t:2",
                [
                    Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 50),
                    Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 101),
                ],
            )
        )
    assert await balance_of(acct.merchant_payable(1)) == 100
    assert await balance_of(acct.PLATFORM_REVENUE) == 0
    assert await LedgerEntry.all().count() == 1


async def test_idempotent_key_posts_once(db):
    for _ in range(3):  # the same key: one entry, one move
        await post(
            Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 7)], idem_key="k1")
        )
    assert await balance_of(acct.PLATFORM_REVENUE) == 7
    assert await LedgerEntry.all().count() == 1


async def test_posting_rules():
    with pytest.raises(ValueError):
        Post(acct.consumer_voucher(1), acct.merchant_payable(1), 5)  # VOUCHER -> CNY
    with pytest.raises(TypeError):
        Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1.5)  # type: ignore[arg-type]
    assert acct.issuer(Asset.POINTS).allow_negative
    assert not acct.pool_available("consumer").allow_negative


async def test_tampering_is_caught(db):
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)]))
    await post(Entry("test", "t:2", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 200)]))
    await seal_pending()
    assert (await verify_ledger()).ok
    conn = connections.get("default")
    await conn.execute_script("UPDATE ledger_postings SET amount = 201 WHERE amount = 200")
    report = await verify_ledger()
    assert not report.ok
    assert "altered" in (report.problem or "")


async def test_tampering_with_the_unsealed_tail_is_caught(db):
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)]))
    await seal_pending()
    await post(Entry("test", "t:2", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 200)]))
    conn = connections.get("default")
    await conn.execute_script("UPDATE ledger_postings SET amount = 201 WHERE amount = 200")
    report = await verify_ledger()
    assert not report.ok and report.entries == 1
    assert "unsealed" in (report.problem or "") and "altered" in (report.problem or "")


async def test_sealing_in_small_batches_makes_the_same_chain(db):
    for i in range(7):
        await post(Entry("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, i + 1)]))
    assert await seal_pending(batch=3, limit=5) == 5  # a bounded run leaves the rest
    assert await LedgerEntry.filter(seq=None).count() == 2
    assert (await verify_ledger()).ok
    assert await seal_pending(batch=3) == 2
    entries = await LedgerEntry.all().order_by("seq")
    assert [e.seq for e in entries] == list(range(1, 8))
    assert [e.id for e in entries] == sorted(e.id for e in entries)  # id order
    report = await verify_ledger()
    assert report.ok and report.entries == 7


async def _truncate_tip() -> None:
    """Delete the newest entry, its postings, and undo their balance moves: what a
    truncation of history leaves behind, every remaining entry still linking."""
    conn = connections.get("default")
    tip = await LedgerEntry.exclude(seq=None).order_by("-seq").first()
    assert tip is not None
    await conn.execute_query(
        "UPDATE ledger_accounts SET balance = balance - COALESCE((SELECT SUM(p.amount) "
        "FROM ledger_postings p WHERE p.entry_id = $1 AND p.destination_id = ledger_accounts.id)"
        ", 0) + COALESCE((SELECT SUM(p.amount) FROM ledger_postings p "
        "WHERE p.entry_id = $1 AND p.source_id = ledger_accounts.id), 0)",
        [tip.id],
    )
    await conn.execute_query("DELETE FROM ledger_postings WHERE entry_id = $1", [tip.id])
    await conn.execute_query("DELETE FROM ledger_entries WHERE id = $1", [tip.id])


async def test_truncated_tip_is_caught(db):
    for i in range(3):
        await post(
            Entry("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 100 + i)])
        )
    await seal_pending()
    assert (await verify_ledger()).ok
    await _truncate_tip()
    # the rest of the chain links and every balance matches its postings ...
    assert await balance_of(acct.merchant_payable(1)) == 100 + 101
    # ... but the chain no longer reaches the head it recorded
    report = await verify_ledger()
    assert not report.ok
    assert report.entries == 2
    assert "newest entries are missing" in (report.problem or "")


async def test_intact_ledger_passes_and_an_empty_one_too(db):
    assert (await verify_ledger()).ok
    await post(Entry("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 5)]))
    await seal_pending()
    report = await verify_ledger()
    assert report.ok and report.entries == 1, report.problem


async def test_the_worker_seals_and_verify_ledger_reports_sealed_and_tail(db, capsys):
    from app import worker
    from app.commands.ledger import verify_chains

    for i in range(3):
        await post(Entry("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1)]))
    assert await worker.seal_ledger({}) == 3
    await post(Entry("test", "t:tail", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1)]))
    assert await verify_chains() == 0
    assert "ledger OK: 3 sealed entries, 1 not sealed yet" in capsys.readouterr().out


async def test_a_repeat_is_answered_even_when_the_balance_has_moved_on(db):
    # given an entry that took an account to zero
    await post(Entry("test", "fund", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 10)]))
    first = await post(
        Entry(
            "test", "t", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 10)], idem_key="k"
        )
    )
    # then its repeat hands it back: it is not judged again against today's balance
    again = await post(
        Entry(
            "test", "t", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 10)], idem_key="k"
        )
    )
    assert again.id == first.id and await balance_of(acct.merchant_payable(1)) == 0
