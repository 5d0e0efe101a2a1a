"""The ledger: balanced entries, no overdraft, idempotency, hash chain."""

from __future__ import annotations

import pytest
from tortoise import connections

from app.domain.ledger import Overdraft, Post, acct, balance_of, post
from app.domain.ledger.verify import verify_ledger
from app.infra.sql import run
from app.models.ledger import Asset, LedgerEntry


async def test_post_moves_balances_and_chains(db):
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)])
    await post("test", "t:2", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 200)])
    assert await balance_of(acct.merchant_payable(1)) == 300
    assert await balance_of(acct.PLATFORM_REVENUE) == 200
    assert await balance_of(acct.WORLD_CNY) == -500
    entries = await LedgerEntry.all().order_by("seq")
    assert [e.seq for e in entries] == [1, 2]
    assert entries[1].prev_hash == entries[0].hash != ""
    report = await verify_ledger()
    assert report.ok, report.problem


async def test_overdraft_fails_whole_entry(db):
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 100)])
    with pytest.raises(Overdraft):
        await post(
            "test",
            "t:2",
            [
                Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 50),
                Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 101),
            ],
        )
    assert await balance_of(acct.merchant_payable(1)) == 100
    assert await balance_of(acct.PLATFORM_REVENUE) == 0
    assert await LedgerEntry.all().count() == 1


async def test_idempotent_key_posts_once(db):
    for _ in range(3):
        await post("test", "t:1", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 7)], idem_key="k1")
    assert await balance_of(acct.PLATFORM_REVENUE) == 7


async def test_posting_rules():
    with pytest.raises(ValueError):
        Post(acct.consumer_voucher(1), acct.merchant_payable(1), 5)  # VOUCHER -> CNY
    with pytest.raises(TypeError):
        Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 1.5)  # type: ignore[arg-type]
    assert acct.issuer(Asset.POINTS).allow_negative
    assert not acct.pool_available("consumer").allow_negative


async def test_tampering_is_caught(db):
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 500)])
    await post("test", "t:2", [Post(acct.merchant_payable(1), acct.PLATFORM_REVENUE, 200)])
    assert (await verify_ledger()).ok
    conn = connections.get("default")
    await conn.execute_script("UPDATE ledger_postings SET amount = 201 WHERE amount = 200")
    report = await verify_ledger()
    assert not report.ok
    assert "altered" in (report.problem or "")


async def _truncate_tip() -> None:
    """Delete the newest entry, its postings, and undo their balance moves: what a
    truncation of history leaves behind, every remaining entry still linking."""
    conn = connections.get("default")
    tip = await LedgerEntry.all().order_by("-seq").first()
    assert tip is not None
    await run(
        conn,
        "UPDATE ledger_accounts SET balance = balance - COALESCE((SELECT SUM(p.amount) "
        "FROM ledger_postings p WHERE p.entry_id = ? AND p.destination_id = ledger_accounts.id)"
        ", 0) + COALESCE((SELECT SUM(p.amount) FROM ledger_postings p "
        "WHERE p.entry_id = ? AND p.source_id = ledger_accounts.id), 0)",
        [tip.id, tip.id],
    )
    await run(conn, "DELETE FROM ledger_postings WHERE entry_id = ?", [tip.id])
    await run(conn, "DELETE FROM ledger_entries WHERE id = ?", [tip.id])


async def test_truncated_tip_is_caught(db):
    for i in range(3):
        await post("test", f"t:{i}", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 100 + i)])
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
    await post("test", "t:1", [Post(acct.WORLD_CNY, acct.merchant_payable(1), 5)])
    report = await verify_ledger()
    assert report.ok and report.entries == 1, report.problem
