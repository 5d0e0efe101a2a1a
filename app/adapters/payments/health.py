"""Channel health: admin decisions in the database, automatic mark-down in Redis.

A transient failure (timeout, unreachable, provider system error) increments a counter
with a window; at the threshold the channel is marked down for a cool-down period and
new orders route to the next live channel. An admin can mark a channel down (or back
up) for good with `setChannelStatus`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.adapters.payments import registry, replay
from app.infra.config import get_settings
from app.infra.redis import get_redis, run_commands
from app.models.payments import ChannelState

log = logging.getLogger("app.adapters.payments")


@dataclass(frozen=True)
class ChannelHealth:
    channel: str
    configured: bool
    admin_live: bool
    auto_down: bool
    reason: str
    failing: bool = False  # transient failures counted in the current window

    @property
    def live(self) -> bool:
        return self.configured and self.admin_live and not self.auto_down


async def record_failure(channel: str) -> bool:
    """Count a transient failure; True when this one marked the channel down."""
    s = get_settings()
    r = get_redis()
    k = replay.key("fail", channel)
    n = await r.incr(k)
    if n == 1:
        await r.expire(k, s.payment_failure_window_s)
    if n >= s.payment_failure_threshold and await r.set(
        replay.key("down", channel), str(n), nx=True, ex=s.payment_markdown_s
    ):
        log.warning("payment channel %s marked down after %s failures", channel, n)
        await r.delete(k)
        return True
    return False


async def record_success(channel: str) -> None:
    await get_redis().delete(replay.key("fail", channel))


async def clear_auto_down(channel: str) -> None:
    await get_redis().delete(replay.key("down", channel), replay.key("fail", channel))


async def health(
    channels: list[str], states: dict[str, tuple[bool, str]] | None = None
) -> dict[str, ChannelHealth]:
    """Each channel's health. `states` (channel -> admin live, reason) when the caller
    read them already; one Redis round trip for the automatic mark-downs."""
    if states is None:
        states = {
            s.channel: (s.live, s.reason) for s in await ChannelState.filter(channel__in=channels)
        }
    keys = [replay.key(kind, ch) for kind in ("down", "fail") for ch in channels]
    found = (await run_commands(get_redis(), [("MGET", *keys)]))[0] if channels else []
    down, failing = found[: len(channels)], found[len(channels) :]
    out = {}
    for ch, marked, fails in zip(channels, down, failing, strict=True):
        live, reason = states.get(ch, (True, ""))
        out[ch] = ChannelHealth(
            channel=ch,
            configured=registry.configured(ch),
            admin_live=live,
            auto_down=marked is not None,
            reason=(reason if not live else ("automatic mark-down" if marked is not None else "")),
            failing=fails is not None,
        )
    return out
