"""The one Redis client. `memory://` gives an in-process stand-in (fakeredis) that
speaks the same redis.asyncio API, so the embedded default runs the same code path."""

from __future__ import annotations

import redis.asyncio as aioredis

from app.config import Settings, get_settings

_client: aioredis.Redis | None = None


def make_redis(url: str) -> aioredis.Redis:
    if url.startswith("memory://"):
        import fakeredis

        return fakeredis.FakeAsyncRedis(decode_responses=True)
    return aioredis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)


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
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None
