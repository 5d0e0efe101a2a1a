"""Waiting for the disk after an early-released commit: one flush serves the waiters
queued behind the one in flight, and only a flush begun after a waiter arrived counts."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from tortoise import connections

from app.domain.ledger import durable

pytestmark = pytest.mark.postgres


class Flushes:
    """The real flush, with when each began and ended on one clock of steps; the first
    can be held (it is then in flight while others arrive) or made to fail."""

    def __init__(self, monkeypatch, *, hold_first: bool = False, fail_first: bool = False):
        self.clock = itertools.count()
        self.spans: list[tuple[int, int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        self.fail_first = fail_first
        self.real = durable.flush
        monkeypatch.setattr(durable, "flush", self.flush)

    async def flush(self, conn) -> None:
        began = next(self.clock)
        first = not self.started.is_set()
        self.started.set()
        await self.release.wait()
        if first and self.fail_first:
            raise ConnectionError("connection lost mid-flush")
        await self.real(conn)
        self.spans.append((began, next(self.clock)))

    async def waiter(self, conn) -> tuple[int, int, str]:
        """An early-released commit, then the wait: (arrived, returned, commit's LSN)."""
        rows = await conn.execute_query_dict(
            "SELECT set_config('synchronous_commit', 'off', true) AS early, "
            "pg_logical_emit_message(true, 'test', 'commit')::text AS lsn"
        )
        arrived = next(self.clock)
        await durable.wait_durable(conn)
        return arrived, next(self.clock), rows[0]["lsn"]

    def covered(self, arrived: int, returned: int) -> bool:
        return any(arrived < began and ended < returned for began, ended in self.spans)


async def on_disk(conn, lsn: str) -> bool:
    rows = await conn.execute_query_dict(
        "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn AS ok", [lsn]
    )
    return bool(rows[0]["ok"])


async def test_waiters_behind_a_flush_in_flight_share_the_next_one(db, monkeypatch):
    conn = connections.get("default")
    flushes = Flushes(monkeypatch, hold_first=True)
    # given one payment's flush in flight
    first = asyncio.create_task(flushes.waiter(conn))
    await asyncio.wait_for(flushes.started.wait(), 5)
    # when five more payments commit and wait meanwhile
    rest = [asyncio.create_task(flushes.waiter(conn)) for _ in range(5)]
    await asyncio.sleep(0.2)  # all five have committed and queued
    flushes.release.set()
    done = await asyncio.gather(first, *rest)
    # then one more flush served all five, and each waiter returned only after a flush
    # that began after it arrived (so after its commit), its commit then on disk
    assert len(flushes.spans) == 2
    for arrived, returned, lsn in done:
        assert flushes.covered(arrived, returned)
        assert await on_disk(conn, lsn)


async def test_a_waiter_alone_runs_its_own_flush_every_time(db, monkeypatch):
    conn = connections.get("default")
    flushes = Flushes(monkeypatch)
    # when three payments wait one after another
    done = [await flushes.waiter(conn) for _ in range(3)]
    # then none took the flush of the one before (it began before its commit)
    assert len(flushes.spans) == 3
    assert all(flushes.covered(arrived, returned) for arrived, returned, _ in done)


async def test_a_flush_that_fails_covers_no_one(db, monkeypatch):
    conn = connections.get("default")
    flushes = Flushes(monkeypatch, hold_first=True, fail_first=True)
    # given a flush in flight, with three waiters queued behind it
    first = asyncio.create_task(flushes.waiter(conn))
    await asyncio.wait_for(flushes.started.wait(), 5)
    rest = [asyncio.create_task(flushes.waiter(conn)) for _ in range(3)]
    await asyncio.sleep(0.2)
    # when that flush fails
    flushes.release.set()
    with pytest.raises(ConnectionError):
        await first
    done = await asyncio.gather(*rest)
    # then its caller hears of it, and the others ran a flush of their own after it
    assert len(flushes.spans) == 1
    for arrived, returned, lsn in done:
        assert flushes.covered(arrived, returned)
        assert await on_disk(conn, lsn)
