"""Split caps (SPEC §9): the most a channel lets the platform take of one payment's cash
by profit sharing (分账), in bps of the cash.

A channel that reports a merchant's own maximum (WeChat Pay: the ratio the sub-merchant
authorised, `GET /v3/profitsharing/merchant-configs/{sub_mchid}`) is asked, and its
answer kept in Redis for `split_cap_ttl_s`, so a merchant's change is seen within that
time. Every other channel has the policy's default (`[split_caps]`), which the caller
reads from the policy and hands in (`policy_bps`).
"""

from __future__ import annotations

from app.adapters.payments import registry, replay
from app.adapters.payments.base import SplitPlan
from app.infra.config import get_settings
from app.infra.redis import get_redis


def planned_split(cash_fen: int, discount_fen: int, policy_bps: int) -> SplitPlan:
    """The split written on a payment when it is created: the policy's cap for the
    channel (for a channel that reports its own, the estimate until the split)."""
    return SplitPlan.for_order(cash_fen, discount_fen, policy_bps)


async def merchant_cap_bps(channel: str, provider_merchant_id: str, policy_bps: int) -> int:
    """The merchant's cap at the channel. A failure to ask raises the channel's
    `ChannelError`: the split then waits rather than guess above the cap."""
    ask = getattr(registry.get_channel(channel), "split_cap_bps", None)
    if ask is None or not provider_merchant_id:
        return policy_bps
    r = get_redis()
    key = replay.key("splitcap", channel, provider_merchant_id[:64])
    kept = await r.get(key)
    if kept is not None:
        return int(kept)
    bps = int(await ask(provider_merchant_id))
    await r.set(key, str(bps), ex=get_settings().split_cap_ttl_s)
    return bps
