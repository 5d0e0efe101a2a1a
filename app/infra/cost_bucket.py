"""Cost budgets per partner app: a leaky bucket in Redis, as Shopify's Admin API keeps.

A bucket holds up to `capacity` points and refills at `restore_rate` points a second.
A request takes its document's cost (`requested`) before it runs, all of it or nothing:
when fewer points are available it is refused, and takes none. After it has run, the
difference between what it asked for and what it cost (`actual`) is given back.

One Lua script does each step atomically, in one round trip, on the server's clock
(`TIME`): several API processes share a bucket without trusting each other's clocks. A
bucket left alone expires once it would be full again; a missing bucket is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.infra.redis import eval_script, get_redis, script_sha

PREFIX = "cost:"

# KEYS[1]: the bucket; ARGV: capacity, restore rate (points/s), mode ('take', 'give' or
# 'peek'), amount. Answers {taken 1|0, points available after it (floored)}.
_LUA = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local mode, amount = ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'a', 't')
local available, at = tonumber(state[1]), tonumber(state[2])
if available == nil or at == nil then available, at = capacity, now end
if now > at then available = available + (now - at) * rate / 1000 end
if available > capacity then available = capacity end
local taken = 0
if mode == 'take' then
  if available >= amount then available = available - amount; taken = 1 end
elseif mode == 'give' then
  available = math.min(capacity, available + amount)
end
if mode ~= 'peek' then
  redis.call('HSET', KEYS[1], 'a', tostring(available), 't', tostring(now))
  local full_in = math.ceil((capacity - available) * 1000 / rate) + 1000
  redis.call('PEXPIRE', KEYS[1], full_in)
end
return {taken, math.floor(available)}
"""
_SHA = script_sha(_LUA)


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    capacity: int
    restore_rate: int  # points a second


@dataclass(frozen=True, slots=True)
class Level:
    taken: bool
    available: int


def bucket(subject: str, capacity: int, restore_rate: int) -> Bucket:
    return Bucket(f"{PREFIX}{subject}", max(1, capacity), max(1, restore_rate))


async def _run(b: Bucket, mode: str, amount: int) -> Level:
    taken, available = await eval_script(
        get_redis(), _LUA, _SHA, [b.key], [b.capacity, b.restore_rate, mode, max(0, amount)]
    )
    return Level(bool(int(taken)), int(available))


async def take(b: Bucket, requested: int) -> Level:
    """Take `requested` points if that many are available, else nothing."""
    return await _run(b, "take", requested)


async def give_back(b: Bucket, points: int) -> Level:
    """Return points taken but not spent (never above the capacity)."""
    return await _run(b, "give", points)


async def peek(b: Bucket) -> Level:
    return await _run(b, "peek", 0)
