"""How a payment is named at its channel: the notification URL, trade and split
numbers, the merchant's id there. Shared by payments, refunds and routing."""

from __future__ import annotations

from app.infra.config import get_settings
from app.models.payments import MerchantChannel, Payment


def notify_url(channel: str) -> str:
    s = get_settings()
    return f"{(s.payment_notify_base_url or s.public_base_url).rstrip('/')}/pay/notify/{channel}"


def out_trade_no(order_id: int) -> str:
    return f"MS{order_id:010d}"


def split_no(payment: Payment) -> str:
    return f"SP{payment.out_trade_no[2:]}"


async def provider_merchant_id(merchant_id: int, channel: str) -> str:
    mc = await MerchantChannel.get_or_none(merchant_id=merchant_id, channel=channel)
    return mc.provider_merchant_id if mc else ""
