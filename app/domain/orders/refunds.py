"""Ending an order: closing an unpaid one (by hand, or a counter order nobody confirmed in
time) and refunding a paid one inside its window (cumulative shares).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from app.domain import audit, ledger
from app.domain.audit import Actor
from app.domain.ledger import Entry, Post, acct
from app.domain.orders.postings import _refund_postings
from app.domain.orders.repository import _lock_order
from app.domain.orders.rules import (
    UNPAID_STATES,
    OrderErrorCode,
    counter_order_expired,
    today_shanghai,
)
from app.domain.settlement import SettlementPlan, share_of
from app.infra import outbox, sql
from app.infra.config import get_settings
from app.infra.errors import DomainError, NotFound
from app.infra.outbox import EventKind
from app.models.orders import (
    HolderKind,
    LotStatus,
    Order,
    OrderOrigin,
    OrderRefund,
    OrderStatus,
    PointLot,
)
from app.models.payments import STRAY_REFUND_PREFIX


async def expire_counter_orders(now: datetime | None = None, batch: int = 200) -> int:
    """Close the counter orders nobody confirmed within `COUNTER_ORDER_TTL_S`, each in
    its own transaction with its `order.cancelled` event (and, were a hold ever there,
    the vouchers' release). Safe to repeat and to run on two workers at once: each
    order is re-read under its lock and closed once. How many this call closed."""
    now = now or datetime.now(UTC)
    before = now - timedelta(seconds=get_settings().counter_order_ttl_s)
    closed = 0
    while True:
        due = await sql.fetch(
            connections.get("default"),
            "SELECT id FROM orders WHERE status = ? AND origin = ? AND created_at <= ? "
            "ORDER BY id LIMIT ?",
            [OrderStatus.UNCONFIRMED.value, OrderOrigin.COUNTER.value, before, batch],
        )
        done = 0
        for row in due:
            if await _expire_one(int(row["id"]), now):
                done += 1
        closed += done
        if len(due) < batch or not done:
            return closed


async def _expire_one(order_id: int, now: datetime) -> bool:
    async with in_transaction() as conn:
        order = await _lock_order(order_id, conn)
        if (
            order is None
            or order.status != OrderStatus.UNCONFIRMED
            or not counter_order_expired(order, now)
        ):
            return False  # confirmed (or closed) meanwhile
        cancelled = await _close_locked(order, conn, "expired")
    outbox.publish([cancelled])
    return True


async def close_order(order_id: int) -> Order:
    """An unpaid order ends: its held vouchers go back to the wallet."""
    async with in_transaction() as conn:
        order = await _lock_order(order_id, conn)
        if order is None:
            raise NotFound("order", "orderId")
        if order.status == OrderStatus.CLOSED:
            return order
        if order.status not in UNPAID_STATES:
            raise DomainError(OrderErrorCode.INVALID_STATE, f"order is {order.status}", "orderId")
        cancelled = await _close_locked(order, conn, "unpaid")
    outbox.publish([cancelled])
    return order


async def _close_locked(order: Order, conn: Any, reason: str) -> outbox.Event:
    """Close an unpaid order whose row `conn` holds locked: its held vouchers (if any)
    go back to the wallet, and `order.cancelled` is written in the same transaction.
    The event, to publish once the transaction commits."""
    if order.voucher_fen and order.status != OrderStatus.UNCONFIRMED:
        uid = order.consumer_id
        await ledger.post(
            Entry(
                "voucher_release",
                f"order:{order.id}",
                [
                    Post(
                        acct.consumer_voucher_held(uid),
                        acct.consumer_voucher(uid),
                        order.voucher_fen,
                    )
                ],
                idem_key=f"order:{order.id}:closed",
            ),
            conn=conn,
        )
    was = order.status
    order.status = OrderStatus.CLOSED
    order.closed_at = datetime.now(UTC)
    await order.save(using_db=conn, update_fields=["status", "closed_at"])
    cancelled = outbox.event(
        EventKind.ORDER_CANCELLED,
        f"order:{order.id}",
        order_id=order.id,
        merchant_id=order.merchant_id,
        consumer_id=order.consumer_id,
        origin=order.origin.value,
        amount_fen=order.amount_fen,
        voucher_fen_released=order.voucher_fen if was != OrderStatus.UNCONFIRMED else 0,
        reason=reason,
        status=order.status.value,
    )
    await outbox.write(conn, [cancelled])
    return cancelled


async def refund_order(
    order_id: int,
    amount_fen: int,
    *,
    refund_key: str,
    by_user_id: int | None = None,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> OrderRefund:
    """Refund part or all of a paid order inside its settlement window, reversing every
    share in proportion, exactly (cumulative shares: the last refund takes what is left).
    With `actor` (an admin refunding a store's order) the refund is recorded in the
    audit trail in its own transaction; a repeat records nothing more."""
    key = (refund_key or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "refundKey is required (1-64 chars)", "refundKey")
    if key.startswith(STRAY_REFUND_PREFIX):  # the channel refund keys the platform makes
        raise DomainError(
            "INVALID", f"refundKey may not start with {STRAY_REFUND_PREFIX}", "refundKey"
        )
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError(OrderErrorCode.AMOUNT_INVALID, "refund must be above zero", "amountFen")
    async with in_transaction() as conn:
        order = await _lock_order(order_id, conn)
        if order is None:
            raise NotFound("order", "orderId")
        done = await OrderRefund.filter(refund_key=key).using_db(conn).first()
        if done is not None:
            if done.order_id != order.id or done.amount_fen != amount_fen:
                raise DomainError(
                    OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this refund key was used for another refund",
                    "refundKey",
                )
            return done
        if order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
            raise DomainError(OrderErrorCode.INVALID_STATE, f"order is {order.status}", "orderId")
        if (
            order.settled_at is not None
            or order.settle_on is None
            or (today_shanghai(now) >= order.settle_on)
        ):
            raise DomainError(
                OrderErrorCode.REFUND_WINDOW_CLOSED,
                "the refund window of this order has closed",
                "orderId",
            )
        if order.refunded_fen + amount_fen > order.amount_fen:
            raise DomainError(
                OrderErrorCode.REFUND_EXCEEDS_PAID,
                f"at most {order.amount_fen - order.refunded_fen} fen can still be refunded",
                "amountFen",
            )
        plan = SettlementPlan.from_json(order.settlement or {})
        before, after = order.refunded_fen, order.refunded_fen + amount_fen
        postings = await _refund_postings(order, plan, before, after, conn)
        refund = await OrderRefund.create(
            order_id=order.id, amount_fen=amount_fen, refund_key=key, using_db=conn
        )
        await ledger.post(
            Entry(
                "order_refund",
                f"order:{order.id}",
                postings,
                idem_key=f"refund:{key}",
                memo=f"by user {by_user_id}",
            ),
            conn=conn,
        )
        await _shrink_lots(order, plan, after, conn)
        status_before = order.status
        order.refunded_fen = after
        order.status = (
            OrderStatus.REFUNDED if after == order.amount_fen else OrderStatus.PARTIALLY_REFUNDED
        )
        await order.save(using_db=conn, update_fields=["refunded_fen", "status"])
        if actor is not None:
            await audit.record(
                conn,
                actor,
                "refundOrder",
                ("Order", order.id),
                {"status": status_before.value, "refunded_fen": before},
                {
                    "status": order.status.value,
                    "refunded_fen": after,
                    "amount_fen": amount_fen,
                    "refund_key": key,
                },
            )
        refunded = outbox.event(
            EventKind.ORDER_REFUNDED,
            f"order:{order.id}",
            order_id=order.id,
            merchant_id=order.merchant_id,
            consumer_id=order.consumer_id,
            refund_key=key,
            amount_fen=amount_fen,
            refunded_fen=after,
            status=order.status.value,
        )
        await outbox.write(conn, [refunded])
    outbox.publish([refunded])
    return refund


async def _shrink_lots(order: Order, plan: SettlementPlan, refunded: int, conn: Any) -> None:
    a = plan.amount_fen
    for lot in await PointLot.filter(order_id=order.id).using_db(conn):
        original = (
            plan.consumer_points
            if lot.holder_kind == HolderKind.CONSUMER
            else (plan.merchant_points)
        )
        lot.points = original - share_of(original, refunded, a)
        lot.status = LotStatus.CANCELLED if lot.points == 0 else lot.status
        await lot.save(using_db=conn, update_fields=["points", "status"])
