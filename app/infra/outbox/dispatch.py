"""Delivering events to their consumers, at least once each.

Two ways reach a consumer, and both record what they did the same way:

- in-process, right after the commit that wrote the event (`publish`): a task of its
  own, so the caller's answer waits for nothing but its scheduling;
- the worker's sweep (`sweep`, every few seconds), for what that missed — a consumer
  that raised, a process that stopped first, an event written by a command-line run:
  events still undone once their grace has passed, retried with a growing delay.

An event is done when every consumer of its kind has it. Until then each consumer that
has it is recorded (`outbox_deliveries`), so a later delivery skips it; a consumer must
still be idempotent, as the process may stop between its work and that record. A
consumer's failure is logged and retried later: it never reaches the writer of the
event (a payment is not refused or delayed by its heat map).

Consumers register by name (`register_consumer`); the heat map is one, and live
subscriptions and partner webhooks plug in the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import connections

from app.infra.config import get_settings

from . import store
from .store import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Handler
    kinds: frozenset[str]


_consumers: dict[str, Consumer] = {}

# Who the running code works for: a consumer's name while it handles an event, OUTBOX
# while deliveries are recorded, None in the writer's own code (the statement counts
# of a paid order tell the two apart by it; so can a log line).
delivering: ContextVar[str | None] = ContextVar("outbox_delivering", default=None)
OUTBOX = "outbox"


@contextlib.contextmanager
def _working_for(name: str) -> Iterator[None]:
    token = delivering.set(name)
    try:
        yield
    finally:
        delivering.reset(token)


def register_consumer(name: str, handler: Handler, kinds: Iterable[str]) -> None:
    """`handler` is given every event of these kinds, at least once (again under the
    same name: replaced). The name is what deliveries are recorded under: keep it."""
    if not name or len(name) > 64:
        raise ValueError("a consumer's name is 1-64 characters")
    _consumers[name] = Consumer(name, handler, frozenset(kinds))


def unregister_consumer(name: str) -> None:
    _consumers.pop(name, None)


def consumers_of(kind: str) -> list[Consumer]:
    return [c for c in _consumers.values() if kind in c.kinds]


def watched_kinds() -> list[str]:
    return sorted({k for c in _consumers.values() for k in c.kinds})


async def _give(event: Event, skip: frozenset[str] = frozenset()) -> tuple[bool, list[str]]:
    """The event to each of its consumers not in `skip`: whether all took it, and
    which did."""
    took, all_took = [], True
    timeout = get_settings().outbox_consumer_timeout_s
    for consumer in consumers_of(event.kind):
        if consumer.name in skip:
            continue
        try:
            with _working_for(consumer.name):
                async with asyncio.timeout(timeout):
                    await consumer.handler(event)
        except Exception:  # noqa: BLE001 - retried by the sweep; the writer never sees it
            all_took = False
            log.exception("consumer %s failed on %s %s", consumer.name, event.kind, event.id)
        else:
            took.append(consumer.name)
    return all_took, took


# ------------------------------------------------------------------ in-process

_tasks: set[asyncio.Task[None]] = set()
_done: list[uuid.UUID] = []  # delivered to all, to be marked done in one statement
_marking: asyncio.Task[None] | None = None


def publish(events: Sequence[Event]) -> None:
    """After the commit that wrote `events`: deliver them in a task of their own."""
    wanted = [e for e in events if consumers_of(e.kind)]
    if not wanted:
        return  # nobody in this process listens: the sweep retires them
    task = asyncio.get_running_loop().create_task(_deliver(wanted))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _deliver(events: Sequence[Event]) -> None:
    global _marking
    delivering.set(OUTBOX)  # this task's own context
    try:
        for event in events:
            all_took, took = await _give(event)
            if all_took:
                _done.append(event.id)
            else:
                await store.record_deliveries(connections.get("default"), event.id, took)
        if _done and _marking is None:
            # payments finishing close together share the statement that marks them done
            _marking = asyncio.get_running_loop().create_task(_mark_done_soon())
    except Exception:  # noqa: BLE001 - undone events are the sweep's
        log.exception("in-process delivery failed")


async def _mark_done_soon() -> None:
    global _marking
    try:
        await asyncio.sleep(get_settings().outbox_mark_delay_s)
        await _mark_done()
    except Exception:  # noqa: BLE001 - left undone: the sweep delivers them again
        log.exception("marking delivered events done failed")
    finally:
        _marking = None


async def _mark_done() -> None:
    while _done:
        ids = _done[:1000]
        del _done[:1000]
        await store.mark_done(connections.get("default"), ids)


async def drain() -> None:
    """Wait for every in-process delivery begun so far and its record (tests, and a
    process that stops)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
    if _marking is not None:
        await asyncio.gather(_marking, return_exceptions=True)
    with _working_for(OUTBOX):
        await _mark_done()


# ------------------------------------------------------------------ the sweep


async def sweep(limit: int | None = None) -> int:
    """Deliver what the in-process delivery missed (the worker, every few seconds);
    the number of events done by it."""
    with _working_for(OUTBOX):
        return await _sweep(limit or get_settings().outbox_sweep_batch)


async def _sweep(limit: int) -> int:
    conn = connections.get("default")
    kinds = watched_kinds()
    await store.retire_unwatched(conn, kinds)
    if not kinds:
        return 0
    retry = timedelta(seconds=get_settings().outbox_retry_s)
    done = []
    for d in await store.claim_due(conn, kinds, limit, retry):
        all_took, took = await _give(d.event, d.delivered_to)
        if all_took:
            done.append(d.event.id)
        else:
            await store.record_deliveries(conn, d.event.id, took)
    if done:
        await store.mark_done(conn, done)
    return len(done)


async def purge_done(age: timedelta) -> int:
    """Forget events done more than `age` ago (the worker, daily)."""
    return await store.purge(connections.get("default"), datetime.now(UTC) - age)
