"""What the merchant and order domains tell discovery, after their commit.

None of these ever raises into the caller: a failure is logged and `python -m app.cli
rebuild-geo-index` repairs whatever drifted. Each is idempotent, so calling one twice
(a retry) changes nothing more.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.adapters.discovery import heatmap, index
from app.models.merchants import Merchant, MerchantStatus
from app.models.orders import Order

log = logging.getLogger(__name__)


async def merchant_changed(merchant: Merchant) -> None:
    """Called after a merchant is approved, moved, suspended, closed or its discount,
    rating, name or category changed (after commit)."""
    try:
        from app.adapters.discovery import index
        from app.domain import traffic

        listed = await index.sync_merchant(merchant.id)
        recruiter = getattr(merchant, "recruiter_user_id", None)
        if listed and recruiter and merchant.status == MerchantStatus.APPROVED:
            await traffic.merchant_recruited(recruiter)
    except Exception:  # noqa: BLE001 - never undo the caller's work
        log.exception("geo merchant_changed failed for merchant %s", merchant.id)


async def order_paid(order: Order, change: heatmap.Change | None = None) -> None:
    """Called after an order is paid (after commit): heat, merchant tasks. `change`: what
    the payment's own statement recorded of it (PostgreSQL); without one, the heat map
    is brought in step with the order row first."""
    try:
        await _apply_change(change if change is not None else await heatmap.record_order(order.id))
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
        from app.domain import traffic

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
    await _apply_change(await heatmap.record_order(order_id))


async def _apply_change(change: heatmap.Change | None) -> None:
    from app.adapters.discovery import index
    from app.domain import traffic

    if change is None or change.orders_delta == 0:
        return
    await index.add_heat(change.merchant_id, change.paid_at, change.orders_delta)
    if change.orders_delta > 0 and change.week_orders is not None:
        if change.rewarded is not None and not _unpaid_due(change.week_orders, change.rewarded):
            return  # every task this count reaches is paid already: no lookup needed
        await traffic.pay_due_tasks(
            change.merchant_id, WEEK_ORDERS, change.period, change.week_orders
        )


WEEK_ORDERS = "orders_served_week"


def _unpaid_due(value: int, rewarded: frozenset[str]) -> bool:
    """Whether a weekly-orders task that `value` reaches is not among those paid."""
    from app.domain.policy import get_policy

    return any(
        t.metric == WEEK_ORDERS and t.threshold <= value and t.code not in rewarded
        for t in get_policy().traffic.tasks
    )
