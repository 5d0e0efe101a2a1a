"""The one Redis client. `memory://` gives an in-process stand-in (fakeredis, Lua
through lupa) behind the same redis.asyncio API: only `make_redis` tells the two apart;
every other function here runs the same commands and scripts on either.

Scripts and batches go over a lean pool of our own, on redis-py's connection methods
(`ensure_connection`, `pack_command`, `send_packed_command`, `read_response`: below its
public client API; redis is pinned to a major in pyproject.toml). RUNTIME_SHORTCUTS=0
sends them through the client instead (EVALSHA, a pipeline whose replies are left as
the server sent them)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from app.infra.config import Settings, get_settings

T = TypeVar("T")

SOCKET_TIMEOUT_S = 5.0
LEAN_NAME = "app-lean"  # the name (CLIENT LIST) of the lean pool's connections

_client: aioredis.Redis | None = None
# (the client it serves, a pool on the same server without per-operation timeouts)
_lean: tuple[aioredis.Redis, ConnectionPool] | None = None
# (the client it serves, a client on its pool that leaves the replies of the commands
# sent through it as the server sent them: RUNTIME_SHORTCUTS=0's `run_commands`)
_raw: tuple[aioredis.Redis, aioredis.Redis] | None = None


def make_redis(url: str, socket_timeout: float | None = SOCKET_TIMEOUT_S) -> aioredis.Redis:
    if url.startswith("memory://"):
        import fakeredis  # noqa: PLC0415 - the in-process stand-in, only for memory://

        return fakeredis.FakeAsyncRedis(decode_responses=True)
    # A connection the server closed while it sat in the pool (a restart, a timeout,
    # CLIENT KILL) is met by one retry on a fresh one, as the lean path does.
    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )


def get_redis(settings: Settings | None = None) -> aioredis.Redis:
    global _client
    if _client is None:
        _client = make_redis((settings or get_settings()).redis_url)
    return _client


def set_redis(client: aioredis.Redis | None) -> None:
    """Swap the process client (tests, CLI)."""
    global _client
    _client = client


async def close_redis() -> None:
    global _client, _lean
    if _client is not None:
        await _client.aclose()
        _client = None
    if _lean is not None:
        await _lean[1].disconnect()
        _lean = None


class _LeanPool(ConnectionPool):
    """Hands out its connections without polling each for unread data first (redis-py
    does that read with a zero timeout on every command, a tenth of a nearby query's
    CPU). Nothing can be left unread on them: `run_script` and `run_commands` read
    every reply whole or drop the connection, and redis-py drops a connection whose
    send or read is interrupted (a timeout, a cancelled request). A connection the
    server closed meanwhile fails its next call with a ConnectionError, which
    `_on_lean_connection` retries once on a new connection."""

    async def ensure_connection(self, connection: Any) -> None:
        await connection.connect()  # (nothing to do when it is connected)


async def _lean_pool(r: aioredis.Redis) -> ConnectionPool:
    """A second pool on `r`'s server whose connections set no timer of their own:
    with a socket timeout, redis-py runs every write in a task of its own (wait_for)
    and wraps every read in a timeout. Callers bound the whole call instead."""
    global _lean
    if _lean is None or _lean[0] is not r:
        if _lean is not None:
            await _lean[1].disconnect()
        base = r.connection_pool
        pool = _LeanPool(
            connection_class=base.connection_class,
            max_connections=base.max_connections,
            **{**base.connection_kwargs, "socket_timeout": None, "client_name": LEAN_NAME},
        )
        _lean = (r, pool)
    return _lean[1]


def script_sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


async def run_script(
    r: aioredis.Redis,
    text: str,
    sha: str,
    keys: Sequence[str],
    args: Sequence[Any],
) -> Any:
    """EVALSHA of a read-only script on one pooled connection (loading the script if the
    server lost it), the whole call bounded by one timeout where the client's socket
    timeout bounds each read and write (see `_on_lean_connection`)."""
    if not get_settings().runtime_shortcuts:
        try:
            return await r.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:  # a restarted or flushed server
            return await r.eval(text, len(keys), *keys, *args)  # type: ignore[misc]
    return await _on_lean_connection(r, lambda conn: _evalsha(conn, text, sha, keys, args))


async def eval_script(
    r: aioredis.Redis, text: str, sha: str, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """A script in one round trip (the same as `run_script`; a script that writes)."""
    return await run_script(r, text, sha, keys, args)


async def _on_lean_connection(r: aioredis.Redis, call: Callable[[Any], Awaitable[T]]) -> T:
    """`call` on a connection of the lean pool, the whole of it bounded by one timeout
    (a per-command socket timeout costs a task per write in redis-py).

    A connection found closed by the server (idle timeout, a kill, a restart) is
    retried once on a new one, as redis-py's own pool would have reconnected it at
    checkout: the server closed it before our commands reached it. Any other failure
    (a timeout, a cancellation) raises, and the connection, with whatever it did not
    read, is dropped: no half-read reply is ever reused."""
    pool = await _lean_pool(r)
    async with asyncio.timeout(SOCKET_TIMEOUT_S):
        for attempt in (0, 1):
            conn = await pool.get_connection()
            try:
                return await call(conn)
            except RedisConnectionError:
                await conn.disconnect()
                if attempt:
                    raise
            except BaseException:
                await conn.disconnect()
                raise
            finally:
                await pool.release(conn)
    raise AssertionError("unreachable")


async def _evalsha(conn: Any, text: str, sha: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    command = conn.pack_command("EVALSHA", sha, len(keys), *keys, *args)
    await conn.send_packed_command(command, check_health=False)
    try:
        return await conn.read_response()
    except NoScriptError:  # a restarted or flushed server: load it, once
        await conn.send_packed_command(conn.pack_command("SCRIPT", "LOAD", text))
        await conn.read_response()
        await conn.send_packed_command(command, check_health=False)
        return await conn.read_response()


async def run_commands(
    r: aioredis.Redis, commands: Sequence[Sequence[Any]], *, transaction: bool = False
) -> list[Any]:
    """The commands in one round trip, inside MULTI/EXEC when `transaction`; their
    replies as the server sends them (redis-py's conversions are not applied). They go
    over the lean pool (`_on_lean_connection`): ~60 us of CPU for four commands in a
    MULTI against ~135 us through a pipeline."""
    if not get_settings().runtime_shortcuts:
        return await _through_client(r, commands, transaction)
    sent = [("MULTI",), *commands, ("EXEC",)] if transaction else list(commands)

    async def send(conn: Any) -> list[Any]:
        await conn.send_packed_command(conn.pack_commands(sent), check_health=False)
        return [await conn.read_response() for _ in sent]

    replies = await _on_lean_connection(r, send)
    out = list(replies[-1]) if transaction else replies
    for reply in out:
        if isinstance(reply, Exception):  # a queued command the server refused
            raise reply
    return out


def _as_sent(response: Any, **options: Any) -> Any:
    return response


async def _through_client(
    r: aioredis.Redis, commands: Sequence[Sequence[Any]], transaction: bool
) -> list[Any]:
    """`run_commands` through redis-py's own pipeline, on a client of `r`'s pool whose
    reply conversions are turned off for the commands it sends (public API only)."""
    global _raw
    if _raw is None or _raw[0] is not r:
        _raw = (r, aioredis.Redis(connection_pool=r.connection_pool))
    raw = _raw[1]
    for command in commands:
        raw.set_response_callback(str(command[0]).upper(), _as_sent)
    pipe = raw.pipeline(transaction=transaction)
    for command in commands:
        pipe.execute_command(*command)
    return list(await pipe.execute())
