"""What live subscriptions send."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import strawberry
from strawberry import relay

from app.api.graphql.orders.types import OrderStatusEnum
from app.models.orders import Order, OrderStatus


@strawberry.enum(description="What happened to an order.")
class OrderEventKind(StrEnum):
    CREATED = "created"
    PAID = "paid"
    REFUNDED = "refunded"


@strawberry.type(description="An order of the store was created, paid or refunded.")
class OrderEvent:
    kind: OrderEventKind
    order_id: relay.GlobalID
    amount_fen: int = strawberry.field(
        description="The order's amount; for a refund, this refund's."
    )
    refunded_fen: int = strawberry.field(description="Refunded of the order so far.")
    status: OrderStatusEnum = strawberry.field(  # type: ignore[valid-type]
        description="The order's status after this event."
    )
    at: datetime

    @classmethod
    def of(cls, notice: dict[str, Any]) -> OrderEvent:
        return cls(
            kind=OrderEventKind(notice["kind"]),
            order_id=relay.GlobalID("Order", str(notice["order_id"])),
            amount_fen=notice["amount_fen"],
            refunded_fen=notice["refunded_fen"],
            status=OrderStatus(notice["status"]),
            at=datetime.fromisoformat(notice["at"]),
        )


@strawberry.type(description="An order's status: first as it stands, then at each change.")
class OrderStatusUpdate:
    order_id: relay.GlobalID
    status: OrderStatusEnum  # type: ignore[valid-type]
    refunded_fen: int
    at: datetime = strawberry.field(
        description="When it changed (for the first update: when the order was paid, or "
        "else created)."
    )

    @classmethod
    def of(cls, notice: dict[str, Any]) -> OrderStatusUpdate:
        return cls(
            order_id=relay.GlobalID("Order", str(notice["order_id"])),
            status=OrderStatus(notice["status"]),
            refunded_fen=notice["refunded_fen"],
            at=datetime.fromisoformat(notice["at"]),
        )

    @classmethod
    def now(cls, order: Order) -> OrderStatusUpdate:
        return cls(
            order_id=relay.GlobalID("Order", str(order.id)),
            status=order.status,
            refunded_fen=order.refunded_fen,
            at=order.paid_at or order.created_at,
        )
