"""Settling orders whose refund window has passed: pending shares become the parties', lots
become active.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tortoise.transactions import in_transaction

from app.domain import ledger, receivables
from app.domain.ledger import Entry, Post, acct
from app.domain.orders.postings import _party_target
from app.domain.orders.repository import _lock_order
from app.domain.orders.rules import SHANGHAI, today_shanghai
from app.domain.settlement import SettlementPlan, share_of
from app.infra import outbox
from app.infra.outbox import EventKind
from app.models.orders import LotStatus, Order, OrderStatus, PointLot


async def settle_due(at: date | None = None) -> int:
    """Finalise every order whose refund window has passed by `at`: pending shares
    become the parties', lots become active in their pool. Returns orders settled."""
    at = at or today_shanghai()
    ids = (
        await Order.filter(
            settled_at=None,
            settle_on__lte=at,
            status__in=[OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED],
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    settled = 0
    for order_id in ids:
        settled += await settle_order(int(order_id), at)  # type: ignore[call-overload]
    return settled


def _activation_time(at: date | None) -> datetime:
    """When lots settled "as of" a past day count as active: the start of that day
    (Asia/Shanghai), so a release run for that day sees them, as it would have."""
    now = datetime.now(UTC)
    if at is None or at >= today_shanghai(now):
        return now
    return datetime(at.year, at.month, at.day, tzinfo=SHANGHAI).astimezone(UTC)


async def settle_order(order_id: int, at: date | None = None) -> int:
    async with in_transaction() as conn:
        order = await _lock_order(order_id, conn)
        if order is None or order.settled_at is not None:
            return 0
        plan = SettlementPlan.from_json(order.settlement or {})
        uid, mid = order.consumer_id, order.merchant_id
        a, r = plan.amount_fen, order.refunded_fen
        out: list[Post] = []
        for p, gone in zip(plan.parties, plan.refunded_shares(r)[1:], strict=True):
            left = p.fen - gone
            cny, voucher = _party_target(p)
            out.append(Post(acct.pending(cny), cny, left))
            if voucher is not None:
                out.append(Post(acct.pending(voucher), voucher, left))
        for pending, active, pts in (
            (
                acct.consumer_points(uid, "pending"),
                acct.consumer_points(uid, "active"),
                plan.consumer_points,
            ),
            (
                acct.merchant_points(mid, "pending"),
                acct.merchant_points(mid, "active"),
                plan.merchant_points,
            ),
        ):
            out.append(Post(pending, active, pts - share_of(pts, r, a)))
        # what the merchant owes from a capped split is netted from what this order
        # makes the platform owe it, before this order's own unsplit part is added
        out += await receivables.netting(order, plan, conn)
        out = [p for p in out if p.amount]
        if out:
            await ledger.post(
                Entry(
                    "order_settled", f"order:{order.id}", out, idem_key=f"order:{order.id}:settled"
                ),
                conn=conn,
            )
        await receivables.record(order, conn)
        now = _activation_time(at)
        await (
            PointLot.filter(order_id=order.id, status=LotStatus.PENDING)
            .using_db(conn)
            .update(status=LotStatus.ACTIVE, activated_at=now)
        )
        order.settled_at = now
        await order.save(using_db=conn, update_fields=["settled_at"])
        settled = outbox.event(
            EventKind.ORDER_SETTLED,
            f"order:{order.id}",
            order_id=order.id,
            merchant_id=order.merchant_id,
            consumer_id=order.consumer_id,
            settled_at=now.isoformat(),
        )
        await outbox.write(conn, [settled])
    outbox.publish([settled])
    return 1
