"""What the merchant and order domains tell discovery. Placeholders until issue 6 lands."""

from __future__ import annotations

from app.models.merchants import Merchant
from app.models.orders import Order


async def merchant_changed(merchant: Merchant) -> None:
    """Called after a merchant is approved, moved, suspended or closed (after commit)."""


async def order_paid(order: Order) -> None:
    """Called after an order is paid (after commit): heat map, merchant tasks."""


async def order_refunded(order: Order, amount_fen: int) -> None:
    """Called after a refund (after commit)."""
