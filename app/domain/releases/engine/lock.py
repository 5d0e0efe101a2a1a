"""Pool names, the day, and the Redis lock that keeps two workers off one pool."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.infra.errors import DomainError, error_codes
from app.infra.redis import get_redis

ReleaseErrorCode = error_codes("ReleaseErrorCode", "LOCKED", "UNKNOWN_POOL")

POOLS = ("consumer", "merchant")
TZ = ZoneInfo("Asia/Shanghai")
LOCK_TTL_MS = 10 * 60 * 1000


def today() -> date:
    return datetime.now(TZ).date()


def check_pool(name: str) -> None:
    if name not in POOLS:
        raise DomainError(ReleaseErrorCode.UNKNOWN_POOL, f"no pool {name!r}", "pool")


# ------------------------------------------------------------------ Redis lock


class PoolLock:
    """SET NX PX with a random token; released (and extended) only by its holder."""

    def __init__(self, pool: str, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.key = f"lock:release:{pool}"
        self.token = secrets.token_hex(16)
        self.ttl_ms = ttl_ms

    async def acquire(self) -> bool:
        return bool(await get_redis().set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def _if_mine(self, action: str) -> bool:
        # Compare-and-act in a WATCH/MULTI transaction (works on Redis and the stand-in).
        async with get_redis().pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.key)
                if await pipe.get(self.key) != self.token:
                    await pipe.unwatch()
                    return False
                pipe.multi()
                if action == "release":
                    pipe.delete(self.key)
                else:
                    pipe.pexpire(self.key, self.ttl_ms)
                await pipe.execute()
                return True
            except Exception:  # noqa: BLE001 - WatchError: someone else changed it
                return False

    async def extend(self) -> bool:
        return await self._if_mine("extend")

    async def release(self) -> bool:
        return await self._if_mine("release")


@asynccontextmanager
async def pool_lock(pool: str) -> AsyncIterator[PoolLock]:
    lock = PoolLock(pool)
    if not await lock.acquire():
        raise DomainError(
            ReleaseErrorCode.LOCKED, f"a release of the {pool} pool is already running", "pool"
        )
    try:
        yield lock
    finally:
        await lock.release()


# ------------------------------------------------------------------ pool state
