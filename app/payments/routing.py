"""Which channel an order pays through, and what the client needs to pay.

Each merchant has enabled channels in priority order (`MerchantChannel`); a channel is
live when it is configured, not marked down by an admin and not automatically marked
down after repeated failures. Merchants without configuration get the embedded
default (the sandbox, in dev and test only).
"""

from __future__ import annotations

from typing import Any

from app.config import get_settings
from app.errors import DomainError
from app.models.orders import Order
from app.models.payments import MerchantChannel
from app.payments import health, service
from app.payments.base import PaymentErrorCode


async def merchant_channels(merchant_id: int) -> list[str]:
    """The merchant's enabled channels, best first (the embedded default if none)."""
    rows = await MerchantChannel.filter(merchant_id=merchant_id).order_by("priority", "id")
    if rows:
        return [r.channel for r in rows if r.enabled]
    s = get_settings()
    if s.app_env in ("dev", "test") and s.sandbox_enabled:
        return ["sandbox"]
    return []


async def choose_channel(merchant_id: int, requested: str | None) -> str:
    """The channel a new order pays through: the requested one when it is enabled for the
    merchant and live, else the merchant's first live channel in priority order."""
    channels = await merchant_channels(merchant_id)
    states = await health.health(channels)
    if requested and requested in states and states[requested].live:
        return requested
    for ch in channels:
        if states[ch].live:
            return ch
    raise DomainError(
        PaymentErrorCode.CHANNEL_UNAVAILABLE,
        "no payment channel is available for this merchant right now, try again later",
        "channel",
    )


async def start_payment(order: Order, client: str | None = None) -> dict[str, Any]:
    """Create the payment at `order.channel` with the split plan; the client's pay
    parameters (wx.requestPayment params, Alipay trade no / order string, sandbox URL).

    `client` is "miniprogram" | "app" (default: mini-program when the consumer has a
    WeChat openid, else app). Raises DomainError (PaymentErrorCode) on channel failure.
    """
    return await service.start_payment(order, client)
