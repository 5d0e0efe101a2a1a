"""Live notices through Redis pub/sub: any process publishes, every API worker hears.

A notice goes to a channel per merchant and a channel per order (`merchant_channel`,
`order_channel`), published by whichever process delivered the event
(`app/services/live.py`). Each API worker holds one pub/sub connection (`Hub`) for
all its clients: a channel is subscribed there while at least one of them listens to
it, and what arrives is handed to each listener's queue in the process. So a client
may be connected to any worker, whichever one handled the payment.

Pub/sub keeps nothing: a notice published while a worker's connection is down is not
heard there (the hub reconnects and subscribes again). Notices tell a client that
something changed; the state itself is always in the queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from app.infra.config import get_settings
from app.infra.redis import get_redis, run_commands

log = logging.getLogger(__name__)

# How long one read on the pub/sub connection waits before looking again (it returns
# as soon as a notice arrives); a failed connection is retried after RETRY_S.
READ_WAIT_S = 30.0
RETRY_S = 0.5
# How long a new listener waits for Redis to confirm its channel.
SUBSCRIBE_TIMEOUT_S = 5.0


def _prefix(r: aioredis.Redis) -> str:
    # Pub/sub channels are not scoped by the logical database: the database's number
    # is part of the name, so deployments (and test runs) sharing a server never hear
    # each other.
    db = r.connection_pool.connection_kwargs.get("db", 0)
    return f"{get_settings().live_channel_prefix}:{db}:"


def merchant_channel(merchant_id: int, r: aioredis.Redis | None = None) -> str:
    return f"{_prefix(r or get_redis())}merchant:{merchant_id}"


def order_channel(order_id: int, r: aioredis.Redis | None = None) -> str:
    return f"{_prefix(r or get_redis())}order:{order_id}"


async def publish(notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Each (channel, notice) published, in one round trip (a notice sent on several
    channels is encoded once)."""
    if not notices:
        return
    encoded: dict[int, str] = {}
    commands = []
    for channel, body in notices:
        text = encoded.get(id(body))
        if text is None:
            text = encoded[id(body)] = json.dumps(body)
        commands.append(("PUBLISH", channel, text))
    await run_commands(get_redis(), commands)


class Lagging(Exception):
    """A listener's queue filled up: its client reads slower than notices arrive."""


class Listener:
    """One subscription's notices, in the order they arrived."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.lagging = False

    def offer(self, notice: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.lagging = True
            # the reader is woken by what is queued; it finds `lagging` once it has
            # taken the queue's notices

    async def next(self, wait_s: float) -> dict[str, Any] | None:
        """The next notice, or None after `wait_s` seconds without one; raises
        `Lagging` once the queue overflowed and has been read."""
        if self.lagging and self._queue.empty():
            raise Lagging
        try:
            async with asyncio.timeout(wait_s):
                return await self._queue.get()
        except TimeoutError:
            return None


class Hub:
    """The worker's one pub/sub connection, shared by all its listeners."""

    def __init__(self, r: aioredis.Redis) -> None:
        self._redis = r
        self._pubsub: PubSub = r.pubsub()
        self._listeners: dict[str, set[Listener]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._wake = asyncio.Event()  # something is subscribed: the reader has work
        self._lock = asyncio.Lock()  # (un)subscribe commands, one at a time
        self._reader: asyncio.Task[None] | None = None

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    def channels(self) -> list[str]:
        """The channels some listener of this worker listens to."""
        return sorted(self._listeners)

    @contextlib.asynccontextmanager
    async def listen(self, channels: Sequence[str]) -> AsyncIterator[Listener]:
        """A listener of these channels, from the moment Redis confirmed each of them
        (what is published after this returns is heard) until the block ends."""
        listener = Listener(get_settings().live_queue_max)
        new = []
        for channel in channels:
            group = self._listeners.setdefault(channel, set())
            if not group:
                new.append(channel)
            group.add(listener)
        try:
            if new:
                await self._subscribe(new)
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                for channel in channels:
                    await self._confirmed[channel].wait()
            yield listener
        finally:
            gone = []
            for channel in channels:
                group = self._listeners.get(channel, set())
                group.discard(listener)
                if not group:
                    self._listeners.pop(channel, None)
                    self._confirmed.pop(channel, None)
                    gone.append(channel)
            if gone:
                await self._unsubscribe(gone)

    async def _subscribe(self, channels: list[str]) -> None:
        for channel in channels:
            self._confirmed[channel] = asyncio.Event()
        async with self._lock:
            await self._pubsub.subscribe(*channels)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())
        self._wake.set()

    async def _unsubscribe(self, channels: list[str]) -> None:
        # a channel that found a new listener meanwhile stays subscribed
        channels = [c for c in channels if c not in self._listeners]
        if not channels:
            return
        try:
            async with self._lock:
                await self._pubsub.unsubscribe(*channels)
        except Exception:  # noqa: BLE001 - a lost connection forgets them anyway
            log.warning("live: unsubscribing failed", exc_info=True)

    async def _read(self) -> None:
        """Hand every notice to the listeners of its channel, for the hub's life."""
        while True:
            try:
                if not self._pubsub.subscribed:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                message = await self._pubsub.get_message(timeout=READ_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnected (and resubscribed) on the next read
                log.warning("live: pub/sub connection failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_S)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            try:
                notice = json.loads(message["data"])
            except ValueError:
                log.warning("live: a notice on %s is not JSON", channel)
                return
            for listener in list(self._listeners.get(channel, ())):
                listener.offer(notice)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()


_hub: Hub | None = None


def hub() -> Hub:
    """This worker's hub, on the process's Redis client (made on first use)."""
    global _hub
    r = get_redis()
    if _hub is None or _hub.redis is not r:
        _hub = Hub(r)
    return _hub


async def close_hub() -> None:
    global _hub
    if _hub is not None:
        await _hub.close()
        _hub = None
