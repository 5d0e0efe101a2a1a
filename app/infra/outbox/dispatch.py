"""Delivering events to their consumers, at least once each, in batches.

Two ways reach a consumer, and both record what they did the same way:

- in-process, right after the commit that wrote the event (`publish`): each consumer
  has a queue and one task that empties it, so the caller's answer waits for nothing
  but the queueing. The task waits its consumer's window after the first event
  (`outbox_batch_windows_s`, else `outbox_batch_window_s`), then hands over everything
  queued by then at once (and again for whatever arrived while it worked): the payments
  of that moment share one heat-map statement, one PUBLISH pipeline, one webhook
  lookup — the work per event falls as the rate rises. A consumer someone waits on
  (live notices) keeps a short window; one nobody watches by the millisecond (the heat
  map) a longer one. `drain` cuts every window short.
- the worker's sweep (`sweep`, every few seconds), for what that missed — a consumer
  that raised, a process that stopped first, an event written by a command-line run:
  events still undone once their grace has passed, retried with a growing delay, handed
  to each consumer in one batch too.

A consumer takes a batch or raises; when a batch of several raises, its events are
handed over again one at a time, so one event it cannot take holds back only itself.
An event is done when every consumer of its kind has it. Until then each consumer that
has it is recorded (`outbox_deliveries`), so a later delivery skips it; a consumer must
still be idempotent per event, as the process may stop between its work and that
record. A consumer's failure is logged and retried later: it never reaches the writer
of the event (a payment is not refused or delayed by its heat map), and a slow consumer
holds back only its own queue.

Consumers register by name (`register_consumer`): the heat map, the geo index, live
subscriptions and partner webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise import connections

from app.infra.config import get_settings

from . import store
from .store import Event

log = logging.getLogger(__name__)

# A consumer's work on a batch of events (one or more, each of a kind it watches).
Handler = Callable[[Sequence[Event]], Awaitable[None]]

# The most events one call of a consumer is given (the rest wait for the next).
MAX_BATCH = 500


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Handler
    kinds: frozenset[str]


_consumers: dict[str, Consumer] = {}

# Who the running code works for: a consumer's name while it handles events, OUTBOX
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
    """`handler` is given every event of these kinds, at least once, in batches (again
    under the same name: replaced). The name is what deliveries are recorded under:
    keep it."""
    if not name or len(name) > 64:
        raise ValueError("a consumer's name is 1-64 characters")
    _consumers[name] = Consumer(name, handler, frozenset(kinds))


def unregister_consumer(name: str) -> None:
    _consumers.pop(name, None)


def consumers_of(kind: str) -> list[Consumer]:
    return [c for c in _consumers.values() if kind in c.kinds]


def watched_kinds() -> list[str]:
    return sorted({k for c in _consumers.values() for k in c.kinds})


async def _call(consumer: Consumer, events: Sequence[Event]) -> None:
    with _working_for(consumer.name):
        async with asyncio.timeout(get_settings().outbox_consumer_timeout_s):
            await consumer.handler(events)


async def _give(consumer: Consumer, events: Sequence[Event]) -> set[uuid.UUID]:
    """The events to one consumer: the ids of those it took."""
    if not events:
        return set()
    if len(events) > 1:
        try:
            await _call(consumer, events)
        except Exception:  # noqa: BLE001 - tried again one by one below
            log.warning(
                "consumer %s failed on a batch of %d events; handing them one by one",
                consumer.name,
                len(events),
            )
        else:
            return {e.id for e in events}
    took = set()
    for event in events:
        try:
            await _call(consumer, [event])
        except Exception:  # noqa: BLE001 - retried by the sweep; the writer never sees it
            log.exception("consumer %s failed on %s %s", consumer.name, event.kind, event.id)
        else:
            took.add(event.id)
    return took


# ------------------------------------------------------------------ in-process


@dataclass
class _Pending:
    """An event on its way to this process's consumers of it."""

    event: Event
    owed: set[str]  # the consumers that have not had it yet
    took: list[str] = field(default_factory=list)
    failed: bool = False


_queues: dict[str, list[_Pending]] = {}  # per consumer, in the order published
_runners: dict[str, asyncio.Task[None]] = {}  # per consumer: the task emptying its queue
_done: list[uuid.UUID] = []  # delivered to all, to be marked done in one statement
_marking: asyncio.Task[None] | None = None


def publish(events: Sequence[Event]) -> None:
    """After the commit that wrote `events`: queue them for their consumers here."""
    loop = asyncio.get_running_loop()
    for event in events:
        consumers = consumers_of(event.kind)
        if not consumers:
            continue  # nobody in this process listens: the sweep retires it
        pending = _Pending(event, {c.name for c in consumers})
        for consumer in consumers:
            _queues.setdefault(consumer.name, []).append(pending)
            runner = _runners.get(consumer.name)
            if runner is None or runner.done() or runner.get_loop() is not loop:
                _runners[consumer.name] = loop.create_task(_run(consumer.name))


def _take(name: str) -> list[_Pending]:
    queue = _queues.get(name)
    if not queue:
        return []
    batch = queue[:MAX_BATCH]
    del queue[:MAX_BATCH]
    return batch


# The windows being waited out, and whether `drain` runs (which ends them at once).
_windows: set[asyncio.Future[None]] = set()
_hurrying = False


async def _wait_window(seconds: float) -> None:
    """Sleep `seconds`, or less if `drain` is called meanwhile (a timer, not a task)."""
    if seconds <= 0 or _hurrying:
        return
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    timer = loop.call_later(seconds, _end_window, ended)
    _windows.add(ended)
    try:
        await ended
    finally:
        timer.cancel()
        _windows.discard(ended)


def _end_window(window: asyncio.Future[None]) -> None:
    if not window.done():
        window.set_result(None)


def window_of(name: str) -> float:
    """How long the consumer `name` lets events gather before it is handed them."""
    settings = get_settings()
    return float(settings.outbox_batch_windows_s.get(name, settings.outbox_batch_window_s))


async def _run(name: str) -> None:
    """Empty one consumer's queue, a batch at a time (the task's own context)."""
    global _marking
    delivering.set(OUTBOX)
    try:
        await _wait_window(window_of(name))  # the events of the next moment come along
        while batch := _take(name):
            consumer = _consumers.get(name)
            took = await _give(consumer, [p.event for p in batch]) if consumer else set()
            for p in batch:
                p.owed.discard(name)
                if p.event.id in took:
                    p.took.append(name)
                else:
                    p.failed = True
                if not p.owed:
                    await _settle(p)
        if _done and _marking is None:
            # events delivered close together share the statement that marks them done
            _marking = asyncio.get_running_loop().create_task(_mark_done_soon())
    except Exception:  # noqa: BLE001 - undone events are the sweep's
        log.exception("in-process delivery to %s failed", name)
    finally:
        if _runners.get(name) is asyncio.current_task():
            del _runners[name]


async def _settle(p: _Pending) -> None:
    """Every consumer here has been offered the event: done, or who has it recorded."""
    if not p.failed:
        _done.append(p.event.id)
    else:
        await store.record_deliveries(connections.get("default"), p.event.id, p.took)


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
    global _hurrying
    loop = asyncio.get_running_loop()
    _hurrying = True
    try:
        while running := [t for t in _runners.values() if t.get_loop() is loop and not t.done()]:
            for window in list(_windows):
                if window.get_loop() is loop:
                    _end_window(window)
            await asyncio.gather(*running, return_exceptions=True)
    finally:
        _hurrying = False
    if _marking is not None and _marking.get_loop() is loop:
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
    due = await store.claim_due(conn, kinds, limit, retry)
    took: dict[uuid.UUID, list[str]] = {d.event.id: [] for d in due}
    failed: set[uuid.UUID] = set()
    for consumer in list(_consumers.values()):
        owed = [
            d.event
            for d in due
            if d.event.kind in consumer.kinds and consumer.name not in d.delivered_to
        ]
        taken = await _give(consumer, owed)
        for event in owed:
            if event.id in taken:
                took[event.id].append(consumer.name)
            else:
                failed.add(event.id)
    done = [d.event.id for d in due if d.event.id not in failed]
    for event_id in failed:
        await store.record_deliveries(conn, event_id, took[event_id])
    if done:
        await store.mark_done(conn, done)
    return len(done)


async def purge_done(age: timedelta) -> int:
    """Forget events done more than `age` ago (the worker, daily)."""
    return await store.purge(connections.get("default"), datetime.now(UTC) - age)
