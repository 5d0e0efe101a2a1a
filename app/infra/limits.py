"""Budgets per client (issue 14): how often one IP, one phone, one POS device or one
signed-in subject may call.

Each budget is a fixed window counted in Redis (`rl:<what>:<who>`): the first unit
spent starts the window, and once `limit` units are spent every further call is
refused until the window ends, whatever it carries (the right secret included). One
Lua script spends from every budget of a call at once, atomically, in one round trip
(concurrent guesses cannot slip past the count between a read and a write).

Logins count failures only (`failures`): a unit is taken before the attempt, so
concurrent attempts are counted too, and given back when the attempt succeeds.

Who the client is: the subject for a signed-in call (`subject_key`), otherwise the
address the connection comes from (`client_ip`), or the one a trusted proxy says it
forwarded for. An IPv6 client counts per /64 (what one subscriber is given).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
from collections.abc import AsyncIterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from app.infra.config import get_settings
from app.infra.errors import RateLimited
from app.infra.redis import eval_script, get_redis, script_sha

log = logging.getLogger(__name__)

# an ASGI connection scope (a plain mapping by the ASGI spec)
Scope = MutableMapping[str, Any]


class Principal(Protocol):
    """Who a signed-in call is counted under (app.domain.principals' principals)."""

    @property
    def key(self) -> str: ...


PREFIX = "rl:"


@dataclass(frozen=True, slots=True)
class Budget:
    key: str
    limit: int  # units per window; 0: no limit
    window_s: int


# KEYS: the budgets; ARGV[1]: 'spend' or 'return', then (limit, window ms) per key.
# 'spend' takes one unit from each and answers the longest wait (ms) among those now
# over their limit, 0 when all were within it; 'return' gives one back to each budget
# whose window is still running (an ended window is not started again).
_LUA = """
if ARGV[1] == 'return' then
  for _, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
  end
  return 0
end
local wait = 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local spent = redis.call('INCR', key)
  if spent == 1 then redis.call('PEXPIRE', key, window) end
  if spent > limit then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
    if ttl > wait then wait = ttl end
  end
end
return wait
"""
_SHA = script_sha(_LUA)


async def _run(mode: str, budgets: Sequence[Budget]) -> int:
    live = [b for b in budgets if b.limit > 0]
    if not live or not get_settings().rate_limits_enabled:
        return 0
    args: list[str | int] = [mode]
    for b in live:
        args += [b.limit, b.window_s * 1000]
    return int(await eval_script(get_redis(), _LUA, _SHA, [b.key for b in live], args))


async def spend(*budgets: Budget, field: str | None = None) -> None:
    """One unit from each budget; `RateLimited` (with the seconds to wait) when any is
    spent already."""
    wait_ms = await _run("spend", budgets)
    if wait_ms > 0:
        raise RateLimited(max(1, math.ceil(wait_ms / 1000)), field)


@asynccontextmanager
async def failures(*budgets: Budget, field: str | None = None) -> AsyncIterator[None]:
    """Around an attempt that can fail (a login): a unit is spent before it (refused
    when the budget is spent) and given back when the attempt succeeds."""
    await spend(*budgets, field=field)
    yield  # (an attempt that raises keeps its unit spent)
    await _run("return", budgets)


# ---------------------------------------------------------------- who is calling


def subject_key(principal: Principal) -> str:
    """The subject a signed-in call is counted (and its scroll snapshots kept) under,
    e.g. `user:12`, `device:3`: the principal's own kind and id."""
    return principal.key


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(scope: Scope) -> str:
    """The client's address as budgets count it: the peer of the connection, or, when
    the peer is a trusted proxy, the nearest address in X-Forwarded-For that is not
    one (read from the right: only the proxies' own entries can be believed)."""
    peer = scope.get("client")
    addr = _address(peer[0]) if peer else None
    if addr is None:
        return "unknown"
    networks = _networks(tuple(get_settings().trusted_proxies))
    if networks and any(addr in n for n in networks):
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name == b"x-forwarded-for"
        ]
        hops = [h for v in forwarded for h in v.split(",")]
        for hop in reversed(hops):
            found = _address(hop)
            if found is None:  # a malformed entry: nothing before it can be believed
                break
            addr = found
            if not any(found in n for n in networks):
                break
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False).network_address) + "/64"
    return str(addr)


def _digest(text: str) -> str:
    """A key part for client-chosen text of any length or content."""
    raw = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


# ---------------------------------------------------------------- the budgets


async def spend_request(scope: Scope, principal: Principal | None) -> None:
    """The request's budget (`request_budget`). Redis out of reach lets the request
    through (logged): what the request needs of Redis fails on its own, with its own
    typed answer, and the rest of the API keeps working meanwhile."""
    try:
        await spend(request_budget(scope, principal))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("request budget not checked: %s", type(exc).__name__)


def request_budget(scope: Scope, principal: Principal | None) -> Budget:
    """Every GraphQL request: per subject when signed in, otherwise per IP."""
    s = get_settings()
    if principal is not None:
        key = f"{PREFIX}subject:{subject_key(principal)}"
        return Budget(key, s.rate_signed_in_per_subject, s.rate_signed_in_window_s)
    key = f"{PREFIX}ip:{client_ip(scope)}"
    return Budget(key, s.rate_anonymous_per_ip, s.rate_anonymous_window_s)


def sms_send_budgets(phone: str, scope: Scope | None) -> list[Budget]:
    """SMS codes sent, per (normalised) phone and per IP."""
    s = get_settings()
    w = s.rate_sms_send_window_s
    out = [Budget(f"{PREFIX}sms-send:phone:{phone}", s.rate_sms_send_per_phone, w)]
    if scope is not None:
        out.append(Budget(f"{PREFIX}sms-send:ip:{client_ip(scope)}", s.rate_sms_send_per_ip, w))
    return out


def sms_login_budgets(phone: str, scope: Scope | None) -> list[Budget]:
    """Failed SMS logins, per (normalised) phone and per IP."""
    s = get_settings()
    w = s.rate_sms_login_window_s
    out = [Budget(f"{PREFIX}sms-login:phone:{phone}", s.rate_sms_login_failures_per_phone, w)]
    if scope is not None:
        ip = client_ip(scope)
        out.append(Budget(f"{PREFIX}sms-login:ip:{ip}", s.rate_sms_login_failures_per_ip, w))
    return out


def pos_login_budgets(serial: str, scope: Scope | None) -> list[Budget]:
    """Failed POS device logins, per device serial (as the lookup reads it) and per IP."""
    s = get_settings()
    w = s.rate_pos_login_window_s
    serial_key = f"{PREFIX}pos-login:serial:{_digest((serial or '').strip())}"
    out = [Budget(serial_key, s.rate_pos_login_failures_per_serial, w)]
    if scope is not None:
        ip = client_ip(scope)
        out.append(Budget(f"{PREFIX}pos-login:ip:{ip}", s.rate_pos_login_failures_per_ip, w))
    return out


def oauth_token_budgets(client_id: str, scope: Scope) -> list[Budget]:
    """Token requests of the client-credentials grant, per client id (as claimed) and per
    IP: every attempt counts, as a client asks only once per token's life."""
    s = get_settings()
    w = s.rate_oauth_token_window_s
    return [
        Budget(f"{PREFIX}oauth:client:{_digest(client_id)}", s.rate_oauth_token_per_client, w),
        Budget(f"{PREFIX}oauth:ip:{client_ip(scope)}", s.rate_oauth_token_per_ip, w),
    ]


def notify_budget(scope: Scope) -> Budget:
    """Payment notifications received, per IP."""
    s = get_settings()
    key = f"{PREFIX}notify:ip:{client_ip(scope)}"
    return Budget(key, s.rate_notify_per_ip, s.rate_notify_window_s)


def unverified_notification_budget(channel: str) -> Budget:
    """Rejected notification bodies stored, per channel."""
    s = get_settings()
    key = f"{PREFIX}notify-unverified:{channel}"
    return Budget(key, s.notify_unverified_stored_per_channel, s.notify_unverified_window_s)


async def within(budget: Budget) -> bool:
    """Spend one unit; whether it was still within the budget (no error raised)."""
    return await _run("spend", [budget]) == 0
