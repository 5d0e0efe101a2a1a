"""Waiting for the disk after an early-released commit, one flush for many waiters.

Used by a guarded entry that commits on its own (a payment): the shared accounts it
moves (issuers, channel clearing, pending platform revenue) are hot rows every payment
updates, so its commit does not wait for the flush while holding them.

A statement that releases its locks early commits without waiting for the WAL flush;
nothing it wrote may be acknowledged before a later flush has passed its commit
(`wait_durable`). A flush covers every commit before it, so payments finishing close
together need not each ask for one: in each process the waiters queue behind the flush
in flight, and the next flush serves all of them at once (group commit, as PostgreSQL
does for its own synchronous commits). Under load that is one statement, one
transaction and one flush request fewer for most payments; alone, a waiter runs its
flush at once, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Flushes:
    """One database client's flushes in one event loop."""

    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    started: int = 0  # flushes begun, numbered from 1
    done: int = 0  # the last flush that returned
    waits: int = 0


# Per client object (one per database): a flush of one database covers nothing of another.
_FLUSHES: weakref.WeakKeyDictionary[Any, _Flushes] = weakref.WeakKeyDictionary()


async def flush(conn: Any) -> None:
    """One synchronous commit, on its own: it waits for a flush that covers every commit
    before it. A transaction commits synchronously only if it wrote WAL: this one writes
    the smallest record there is, a transactional logical message (ignored by decoders
    that do not ask for messages)."""
    await conn.execute_query_dict(
        "SELECT pg_logical_emit_message(true, 'ledger', 'durable')::text AS lsn"
    )


async def wait_durable(conn: Any) -> None:
    """Return once every commit this process has seen is on disk (PostgreSQL, outside a
    transaction): before acknowledging what an early-released statement wrote — also
    one of another request's, seen already (a repeated notification).

    Only a flush begun after this call covers the caller's commits, which all returned
    before it: the caller waits for the one in flight (if any) to end, then either runs
    the next or finds that another waiter queued with it has run one since."""
    loop = asyncio.get_running_loop()
    flushes = _FLUSHES.get(conn)
    if flushes is None or flushes.loop is not loop:
        flushes = _FLUSHES[conn] = _Flushes(loop)
    needed = flushes.started + 1  # the first flush that can begin from now on
    flushes.waits += 1
    async with flushes.lock:
        if flushes.done >= needed:
            return  # begun after this call, and returned: the caller's commits are on disk
        flushes.started += 1
        number = flushes.started
        await flush(conn)
        flushes.done = number


def counts() -> tuple[int, int]:
    """(waits, flushes begun) in this process so far, for the benchmarks."""
    return sum(f.waits for f in _FLUSHES.values()), sum(f.started for f in _FLUSHES.values())
