"""Replay memory for notification nonces, in Redis (shared by every worker)."""

from __future__ import annotations

from app.infra.config import get_settings
from app.infra.redis import get_redis


def key(*parts: str) -> str:
    return ":".join((get_settings().payment_redis_prefix, *parts))


async def first_time(channel: str, nonce: str, ttl_s: int) -> bool:
    """True the first time this nonce is seen within `ttl_s`; False for a replay."""
    return bool(await get_redis().set(key("nonce", channel, nonce[:64]), "1", nx=True, ex=ttl_s))
