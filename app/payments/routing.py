"""Which channel an order pays through, and what the client needs to pay.

Placeholder until the payment-channel issue lands: everything routes to `sandbox`.
"""

from __future__ import annotations

from typing import Any

from app.models.orders import Order


async def choose_channel(merchant_id: int, requested: str | None) -> str:
    return requested or "sandbox"


async def start_payment(order: Order) -> dict[str, Any]:
    """Create the payment at the channel; returns the client's pay parameters."""
    return {"channel": order.channel, "orderId": order.id, "amountFen": order.cash_fen}
