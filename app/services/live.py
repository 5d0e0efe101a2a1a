"""Order events for live subscribers: the outbox consumer `LIVE` turns each created,
paid or refunded order into a notice on its merchant's channel and on its own
(`app/infra/live.py`), which every API worker hears and hands to its subscribers
(`app/api/graphql/live/`).

The notices of a batch of events go out in one round trip. At least once, like every
consumer: a repeat (the sweep after a failure) publishes the
notice again, which a subscriber reads as the same state once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.infra import live
from app.infra.outbox import Event, EventKind, register_consumer
from app.models.orders import OrderStatus

LIVE = "live.orders"  # the consumer's name, under which its deliveries are kept

KINDS = {
    EventKind.ORDER_CREATED: "created",
    EventKind.ORDER_PAID: "paid",
    EventKind.ORDER_REFUNDED: "refunded",
}
# the order's status each event leaves it in, where the event does not say
_STATUS = {EventKind.ORDER_CREATED: OrderStatus.CREATED, EventKind.ORDER_PAID: OrderStatus.PAID}


def register() -> None:
    register_consumer(LIVE, on_order_events, tuple(KINDS))


def notice_of(event: Event) -> dict[str, Any]:
    """What a subscriber is told: the kind, the order, the amount (a refund's own for a
    refund), the status it left the order in, and when."""
    p = event.payload
    status = p.get("status") or _STATUS.get(EventKind(event.kind), OrderStatus.REFUNDED)
    return {
        "kind": KINDS[EventKind(event.kind)],
        "order_id": p["order_id"],
        "merchant_id": p["merchant_id"],
        "amount_fen": p["amount_fen"],
        "refunded_fen": p.get("refunded_fen", 0),
        "status": str(status),
        "at": event.created_at.isoformat(),
    }


async def on_order_events(events: Sequence[Event]) -> None:
    """Each order's notice on its merchant's channel and its own, all in one round trip."""
    notices = [notice_of(event) for event in events]
    await live.publish(
        [
            (channel, notice)
            for notice in notices
            for channel in (
                live.merchant_channel(notice["merchant_id"]),
                live.order_channel(notice["order_id"]),
            )
        ]
    )
