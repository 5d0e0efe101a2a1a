"""Which channel an order pays through, and what the client needs to pay.

Each merchant has enabled channels in priority order (`MerchantChannel`); a channel is
live when it is configured, not marked down by an admin and not automatically marked
down after repeated failures. Merchants without configuration get the embedded
default (the sandbox, in dev and test only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tortoise import connections

from app.adapters.payments import health
from app.adapters.payments.base import PaymentErrorCode
from app.infra.config import get_settings
from app.infra.errors import DomainError
from app.infra.sql import fetch
from app.models.orders import Order
from app.models.payments import CHANNEL_TABLE
from app.services import payments as service


@dataclass(frozen=True)
class Route:
    """The channel a new order pays through, and the merchant's id at that channel."""

    channel: str
    provider_merchant_id: str = ""
    failing: bool = False  # the channel has failures counted: a success must clear them


ChannelRows = list[dict[str, Any]]


def _channel_table(rows: ChannelRows) -> tuple[list[Route], dict[str, tuple[bool, str]]]:
    configured = [r for r in rows if r["kind"] == 0]
    states = {r["channel"]: (bool(r["flag"]), r["text"]) for r in rows if r["kind"] == 1}
    if configured:
        return [Route(r["channel"], r["text"]) for r in configured if r["flag"]], states
    s = get_settings()
    if s.app_env in ("dev", "test") and s.sandbox_enabled:
        return [Route("sandbox")], states
    return [], states


async def route(merchant_id: int, requested: str | None, table: ChannelRows | None = None) -> Route:
    """The channel a new order pays through: the requested one when it is enabled for the
    merchant and live, else the merchant's first live channel in priority order.
    `table`: the merchant's `CHANNEL_TABLE` rows (`app.models.payments`), in order,
    when the caller read them already."""
    if table is None:
        sql = f"{CHANNEL_TABLE} ORDER BY kind, priority, id"
        table = await fetch(connections.get("default"), sql, [merchant_id])
    routes, admin_states = _channel_table(table)
    states = await health.health([r.channel for r in routes], admin_states)
    live = [replace(r, failing=states[r.channel].failing) for r in routes if states[r.channel].live]
    for r in live:
        if r.channel == requested:
            return r
    if live:
        return live[0]
    raise DomainError(
        PaymentErrorCode.CHANNEL_UNAVAILABLE,
        "no payment channel is available for this merchant right now, try again later",
        "channel",
    )


async def choose_channel(merchant_id: int, requested: str | None) -> str:
    return (await route(merchant_id, requested)).channel


async def start_payment(
    order: Order, client: str | None = None, *, first: service.FirstPayment | None = None
) -> dict[str, Any]:
    """Create the payment at `order.channel` with the split plan; the client's pay
    parameters (wx.requestPayment params, Alipay trade no / order string, sandbox URL).

    `client` is "miniprogram" | "app" (default: mini-program when the consumer has a
    WeChat openid, else app). Raises DomainError (PaymentErrorCode) on channel failure.
    """
    return await service.start_payment(order, client, first=first)
