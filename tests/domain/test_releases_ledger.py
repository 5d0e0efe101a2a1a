"""Set-based posting (app.domain.ledger.bulk) and concurrent release workers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from app.domain.ledger import Entry, Overdraft, Post, acct, balance_of, post
from app.domain.ledger.bulk import post_bulk
from app.domain.ledger.core import digest_lines, posting_line
from app.domain.ledger.verify import verify_ledger
from app.infra.errors import DomainError
from app.models.ledger import Asset, LedgerEntry
from app.models.releases import Release, ReleasePayment
from tests.domain.test_releases import (
    START,
    add_lot,
    evaluate_pool,
    fund,
    get_pool,
    grow,
    make_policy,
)

ROWS = (
    "SELECT 1 AS ord, 'pool:consumer:available' AS src, 'reserve:voucher' AS dst, "
    "'CNY' AS asset, 300 AS amount "
    "UNION ALL SELECT 2, 'issuer:voucher', 'consumer:1:voucher', 'VOUCHER', 100 "
    "UNION ALL SELECT 3, 'issuer:voucher', 'consumer:2:voucher', 'VOUCHER', 200 "
    "UNION ALL SELECT 4, 'issuer:voucher', 'consumer:3:voucher', 'VOUCHER', 0"
)


async def test_bulk_entry_moves_balances_and_verifies(db):
    # given a funded pool
    await post(Entry("t", "fund", [Post(acct.WORLD_CNY, acct.pool_available("consumer"), 1000)]))
    await post(Entry("t", "later", [Post(acct.WORLD_CNY, acct.PLATFORM_REVENUE, 5)]))
    # when three postings go in set-based (a zero amount is skipped)
    async with in_transaction() as conn:
        entry = await post_bulk("bulk", "r:1", ROWS, {}, conn=conn, idem_key="b1")
    # then balances moved and the digest is the one ledger.post would compute
    assert entry is not None and entry.posting_count == 3
    assert await balance_of(acct.pool_available("consumer")) == 700
    assert await balance_of(acct.consumer_voucher(2)) == 200
    expected = digest_lines(
        [
            posting_line("pool:consumer:available", "reserve:voucher", "CNY", 300),
            posting_line("issuer:voucher", "consumer:1:voucher", "VOUCHER", 100),
            posting_line("issuer:voucher", "consumer:2:voucher", "VOUCHER", 200),
        ]
    )
    assert (await LedgerEntry.get(id=entry.id)).postings_digest == expected
    report = await verify_ledger()
    assert report.ok, report.problem
    # and a repeat with the same key moves nothing
    async with in_transaction() as conn:
        again = await post_bulk("bulk", "r:1", ROWS, {}, conn=conn, idem_key="b1")
    assert again is not None and again.id == entry.id
    assert await balance_of(acct.pool_available("consumer")) == 700


async def test_bulk_entry_creates_missing_accounts_and_keeps_foreign_keys(db):
    # given a funded pool and one of the two holders' accounts already there
    await post(Entry("t", "fund", [Post(acct.WORLD_CNY, acct.pool_available("consumer"), 1000)]))
    await post(Entry("t", "c2", [Post(acct.issuer(Asset.VOUCHER), acct.consumer_voucher(2), 7)]))
    # when a bulk entry pays both
    async with in_transaction() as conn:
        entry = await post_bulk("bulk", "r:2", ROWS, {}, conn=conn, idem_key="b2")
    # then the missing account was created, every posting points at real rows
    assert entry is not None and entry.posting_count == 3
    assert await balance_of(acct.consumer_voucher(1)) == 100
    assert await balance_of(acct.consumer_voucher(2)) == 207
    rows = await connections.get("default").execute_query_dict(
        "SELECT COUNT(*) AS n FROM ledger_postings p "
        "LEFT JOIN ledger_accounts s ON s.id = p.source_id "
        "LEFT JOIN ledger_accounts d ON d.id = p.destination_id "
        "LEFT JOIN ledger_entries e ON e.id = p.entry_id "
        "WHERE s.id IS NULL OR d.id IS NULL OR e.id IS NULL"
    )
    assert rows[0]["n"] == 0
    report = await verify_ledger()
    assert report.ok, report.problem


async def test_bulk_entry_refuses_overdraft_whole(db):
    # given a pool with only 100 fen
    await post(Entry("t", "fund", [Post(acct.WORLD_CNY, acct.pool_available("consumer"), 100)]))
    # when a bulk entry would take 300 from it
    with pytest.raises(Overdraft):
        async with in_transaction() as conn:
            await post_bulk("bulk", "r:1", ROWS, {}, conn=conn)
    # then nothing moved
    assert await balance_of(acct.pool_available("consumer")) == 100
    assert await balance_of(acct.consumer_voucher(1)) == 0
    assert await LedgerEntry.all().count() == 1
    rows = await connections.get("default").execute_query_dict(
        "SELECT COUNT(*) AS n FROM ledger_postings"
    )
    assert rows[0]["n"] == 1


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_workers_at_once_one_runs(db):
    # given a pool whose release is due
    policy = make_policy(batch_size=100)
    await fund(10**12)
    await get_pool("consumer", START)
    for i in range(150):
        await add_lot(20_000, holder_id=i)
    await grow("consumer", policy, 20)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    # when two workers evaluate it at the same moment
    results = await asyncio.gather(
        evaluate_pool("consumer", at=ev.due_on, policy=policy),
        evaluate_pool("consumer", at=ev.due_on, policy=policy),
        return_exceptions=True,
    )
    # then one runs the release and the other is refused
    refused = [r for r in results if isinstance(r, DomainError)]
    ran = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 1 and refused[0].code == "LOCKED"
    assert len(ran) == 1 and ran[0].release is not None
    assert await Release.all().count() == 1
    assert await ReleasePayment.all().count() == 151
    assert (await verify_ledger()).ok
