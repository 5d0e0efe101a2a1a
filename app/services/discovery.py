"""What the merchant and order domains tell discovery, after their commit.

Orders reach it as events (`order.paid`, `order.refunded`: `on_order_events`, the
consumer `HEATMAP`), delivered at least once, in batches, after the payment's or refund's commit
by `app.infra.outbox`: a failure here is retried by the worker's sweep and never
reaches the payment. The functions below it never raise into the caller either: a
failure is logged and `python -m app.cli rebuild-geo-index` repairs whatever drifted.
Each is idempotent, so calling one twice (a retry) changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from app.adapters.discovery import heatmap, index
from app.adapters.discovery import nearby as near
from app.domain.policy import get_policy
from app.infra.coords import CoordSystem
from app.infra.outbox import Event, EventKind, register_consumer
from app.models.merchants import Merchant
from app.models.orders import Order
from app.services import traffic

log = logging.getLogger(__name__)


async def nearby(
    lat: float,
    lng: float,
    coord_system: CoordSystem | str = CoordSystem.GCJ02,
    *,
    radius_m: int = near.DEFAULT_RADIUS_M,
    category: str | None = None,
    first: int = 20,
    after: str | None = None,
    now: float | None = None,
    cursors: bool = True,
    owner: str | None = None,
) -> near.NearbyPage:
    """Approved merchants near a point, best first (`app.adapters.discovery.nearby`),
    ranked with the policy's discount scale."""
    return await near.nearby(
        lat,
        lng,
        coord_system,
        radius_m=radius_m,
        category=category,
        first=first,
        after=after,
        now=now,
        cursors=cursors,
        owner=owner,
        discount_max_bps=get_policy().merchant.discount_max_bps,
    )


async def merchant_changed(merchant: Merchant) -> None:
    """The index brought in step with a merchant's row (a repair, a test)."""
    try:
        await _merchant_in_step(merchant.id, getattr(merchant, "recruiter_user_id", None))
    except Exception:  # noqa: BLE001 - never undo the caller's work
        log.exception("geo merchant_changed failed for merchant %s", merchant.id)


# the consumers' names, under which their deliveries are kept
HEATMAP = "discovery.heatmap"
INDEX = "discovery.index"


def register() -> None:
    register_consumer(HEATMAP, on_order_events, (EventKind.ORDER_PAID, EventKind.ORDER_REFUNDED))
    register_consumer(INDEX, on_merchant_events, (EventKind.MERCHANT_CHANGED,))


async def on_merchant_events(events: Sequence[Event]) -> None:
    """Merchants approved, moved, suspended, closed or their discount, name or category
    changed: the index follows each one's row, and whoever recruited it is counted
    again (raises: the outbox delivers them again; both are idempotent)."""
    for event in events:
        p = event.payload
        await _merchant_in_step(p["merchant_id"], p.get("recruiter_user_id"))


async def _merchant_in_step(merchant_id: int, recruiter: int | None) -> None:
    listed = await index.sync_merchant(merchant_id)
    if listed and recruiter:  # (listed: approved and open)
        await traffic.merchant_recruited(recruiter)


async def on_order_events(events: Sequence[Event]) -> None:
    """The heat map, the merchants' heat and their weekly tasks, brought in step with
    orders paid or refunded (raises: the outbox delivers them again). New payments are
    recorded together in one statement from their events, and their heat in one round
    trip; anything else from the order's row. Idempotent: an order's fact is written
    once (`geo_order_facts.order_id` is unique), and the heat and tasks move only with a
    change of it."""
    paid = [
        heatmap.PaidOrder(
            p["order_id"],
            p["merchant_id"],
            p["amount_fen"],
            datetime.fromisoformat(p["paid_at"]),
            p["merchant_lat"],
            p["merchant_lng"],
        )
        for p in (e.payload for e in events if e.kind == EventKind.ORDER_PAID)
    ]
    changes: list[heatmap.Change | None] = list(await heatmap.record_paid(paid))
    for event in events:
        if event.kind != EventKind.ORDER_PAID:
            changes.append(await heatmap.record_order(event.payload["order_id"]))
    await _apply_changes(changes)


async def order_paid(order: Order) -> None:
    """The heat map brought in step with a paid order's row (a repair, a test)."""
    try:
        await apply_order(order.id)
    except Exception:  # noqa: BLE001 - never undo a payment
        log.exception("geo order_paid failed for order %s", order.id)


async def order_refunded(order: Order, amount_fen: int) -> None:
    """Called after a refund (after commit). The order row's `refunded_fen` is the
    truth; `amount_fen` (this refund) is only logged."""
    await _order_changed(order, "order_refunded")


async def review_posted(merchant_id: int, review_key: str, at: datetime | None = None) -> None:
    """Called after a consumer posts a review of a merchant (counted once per key): its
    rating moved, and its weekly reviews task counts the review."""
    await rating_changed(merchant_id)
    try:
        await traffic.review_posted(merchant_id, review_key, at)
    except Exception:  # noqa: BLE001
        log.exception("geo review_posted failed for merchant %s", merchant_id)


async def rating_changed(merchant_id: int) -> None:
    """Called after a merchant's rating changed (after commit): nearby ranks by it."""
    try:
        await index.sync_merchant(merchant_id)
    except Exception:  # noqa: BLE001 - never undo the review
        log.exception("geo rating_changed failed for merchant %s", merchant_id)


async def _order_changed(order: Order, event: str) -> None:
    try:
        await apply_order(order.id)
    except Exception:  # noqa: BLE001 - never undo a payment or a refund
        log.exception("geo %s failed for order %s", event, order.id)


async def apply_order(order_id: int) -> None:
    """Bring heat map, heat and task counters in step with the order row (raises)."""
    await _apply_changes([await heatmap.record_order(order_id)])


async def _apply_changes(changes: Sequence[heatmap.Change | None]) -> None:
    moved = [c for c in changes if c is not None and c.orders_delta != 0]
    await index.add_heats([(c.merchant_id, c.paid_at, c.orders_delta) for c in moved])
    reached: dict[tuple[int, str], int] = {}  # (merchant, week) -> its orders after
    for c in moved:
        if c.orders_delta < 0 or c.week_orders is None:
            continue
        if c.rewarded is not None and not _unpaid_due(c.week_orders, c.rewarded):
            continue  # every task this count reaches is paid already: no lookup needed
        key = (c.merchant_id, c.period)
        reached[key] = max(reached.get(key, 0), c.week_orders)
    for (merchant_id, period), value in reached.items():
        await traffic.pay_due_tasks(merchant_id, WEEK_ORDERS, period, value)


WEEK_ORDERS = "orders_served_week"


def _unpaid_due(value: int, rewarded: frozenset[str]) -> bool:
    """Whether a weekly-orders task that `value` reaches is not among those paid."""
    return any(
        t.metric == WEEK_ORDERS and t.threshold <= value and t.code not in rewarded
        for t in get_policy().traffic.tasks
    )
