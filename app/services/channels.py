"""Operations on channels: an admin marks a channel down or live, and sets which
channels a merchant is paid through, in priority order."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from app.adapters.payments import health, registry
from app.adapters.payments.health import ChannelHealth
from app.domain import audit
from app.domain.audit import OPERATOR, Actor
from app.infra.errors import DomainError, NotFound
from app.models.merchants import Merchant
from app.models.payments import ChannelState, MerchantChannel

MAX_CHANNELS = len(registry.KNOWN)


def _check_channel(channel: str, field: str = "channel") -> str:
    channel = (channel or "").strip().lower()
    if channel not in registry.KNOWN:
        raise DomainError("INVALID", f"unknown channel; one of {', '.join(registry.KNOWN)}", field)
    return channel


async def set_channel_status(
    channel: str, live: bool, *, reason: str = "", by_user_id: int | None = None
) -> ChannelHealth:
    """Mark a whole channel live or down (orders route around a down channel). Marking
    it live also lifts an automatic mark-down."""
    channel = _check_channel(channel)
    reason = (reason or "").strip()[:255]
    if not live and not reason:
        raise DomainError("INVALID", "say why the channel goes down", "reason")
    actor = Actor.admin(by_user_id) if by_user_id is not None else OPERATOR
    async with in_transaction() as conn:
        await ChannelState.get_or_create(channel=channel, using_db=conn)
        state = await ChannelState.filter(channel=channel).select_for_update().using_db(conn).get()
        before = {"live": state.live, "reason": state.reason}
        state.live = live
        state.reason = "" if live else reason
        state.changed_by_user_id = by_user_id
        await state.save(using_db=conn)
        await audit.record(
            conn,
            actor,
            "setChannelStatus",
            ("Channel", channel),
            before,
            {"live": live, "reason": state.reason},
            reason,
        )
    if live:
        await health.clear_auto_down(channel)
    return (await health.health([channel]))[channel]


async def channel_statuses() -> list[ChannelHealth]:
    states = await health.health(list(registry.KNOWN))
    return [states[c] for c in registry.KNOWN]


@dataclass(frozen=True)
class MerchantChannelSpec:
    channel: str
    priority: int = 100
    enabled: bool = True
    provider_merchant_id: str = ""


def _listed(rows: list[MerchantChannel]) -> list[dict[str, object]]:
    return [
        {
            "channel": r.channel,
            "priority": r.priority,
            "enabled": r.enabled,
            "provider_merchant_id": r.provider_merchant_id,
        }
        for r in sorted(rows, key=lambda r: (r.priority, r.channel))
    ]


async def set_merchant_channels(
    merchant_id: int,
    specs: list[MerchantChannelSpec],
    *,
    actor: Actor = OPERATOR,
    reason: str = "",
) -> list[MerchantChannel]:
    """Replace the merchant's channel list (the split receiver registration is kept)."""
    reason = audit.reason_of(reason, required=False)
    if await Merchant.get_or_none(id=merchant_id) is None:
        raise NotFound("merchant", "merchantId")
    if len(specs) > MAX_CHANNELS:
        raise DomainError("INVALID", f"at most {MAX_CHANNELS} channels", "channels")
    seen: set[str] = set()
    cleaned = []
    for s in specs:
        ch = _check_channel(s.channel, "channels")
        if ch in seen:
            raise DomainError("INVALID", f"channel {ch} listed twice", "channels")
        if not 0 <= s.priority <= 10_000:
            raise DomainError("INVALID", "priority must be between 0 and 10000", "channels")
        pmid = (s.provider_merchant_id or "").strip()
        if len(pmid) > 64:
            raise DomainError("INVALID", "providerMerchantId is at most 64 chars", "channels")
        seen.add(ch)
        cleaned.append(MerchantChannelSpec(ch, s.priority, s.enabled, pmid))
    async with in_transaction() as conn:
        old = {
            m.channel: m
            for m in await MerchantChannel.filter(merchant_id=merchant_id).using_db(conn)
        }
        for ch, row in old.items():
            if ch not in seen:
                await row.delete(using_db=conn)
        for s in cleaned:
            existing = old.get(s.channel)
            if existing is None:
                await MerchantChannel.create(
                    merchant_id=merchant_id,
                    channel=s.channel,
                    priority=s.priority,
                    enabled=s.enabled,
                    provider_merchant_id=s.provider_merchant_id,
                    using_db=conn,
                )
            else:
                ready = row.split_receiver_ready and (
                    row.provider_merchant_id == s.provider_merchant_id
                )
                await (
                    MerchantChannel.filter(id=row.id)
                    .using_db(conn)
                    .update(
                        priority=s.priority,
                        enabled=s.enabled,
                        provider_merchant_id=s.provider_merchant_id,
                        split_receiver_ready=ready,
                    )
                )
        after = await MerchantChannel.filter(merchant_id=merchant_id).using_db(conn)
        await audit.record(
            conn,
            actor,
            "setMerchantChannels",
            ("Merchant", merchant_id),
            _listed(list(old.values())),
            _listed(after),
            reason,
        )
    return await MerchantChannel.filter(merchant_id=merchant_id).order_by("priority", "id")
