"""Applying a verified payment exactly once (SPEC §3.2): one guarded ledger statement with
its writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain import ledger
from app.domain.ledger import Entry, Eq, Insert, Typed, Update
from app.domain.orders.postings import _payment_postings, _unpaid
from app.domain.orders.repository import _paying
from app.domain.orders.rules import PAID_STATES, OrderErrorCode, _plan, today_shanghai
from app.domain.policy import get_policy
from app.infra import outbox
from app.infra.errors import DomainError, NotFound
from app.infra.outbox import EventKind
from app.models.orders import HolderKind, LotStatus, Order, OrderStatus


async def mark_paid(order_id: int, *, channel: str, channel_txn_id: str, amount_fen: int) -> Order:
    """Apply a verified payment exactly once (SPEC §3.2).

    The payment is one statement outside any transaction: the order is read, then
    written with its ledger entry under a guard that locks its row and finds it still
    unpaid, so the statement commits on its own and the shared accounts it moves are
    held for no client round trip and no disk flush; it returns once the payment is
    durable. A guard that finds the order paid or closed meanwhile writes nothing, and
    the order is read again.
    """
    conn = ledger.default_client()
    for _ in range(3):  # a second read sees the state that refused the guard
        try:
            order, change = await _pay(order_id, channel, channel_txn_id, amount_fen, conn)
            break
        except ledger.GuardRefused:
            continue
    else:
        raise RuntimeError(f"order {order_id} kept changing under its payment")
    if change is _NOT_PAID_NOW:
        # a repeat, answered from what another call wrote: that must be on disk
        # before this one is acknowledged too (its commit did not wait for it)
        await ledger.wait_durable(conn)
    if change is not _NOT_PAID_NOW:
        outbox.publish([change])  # written with the payment: its consumers are told now
    return order


_NOT_PAID_NOW = object()  # `_pay` found the payment applied already: no event to publish


async def _pay(
    order_id: int, channel: str, channel_txn_id: str, amount_fen: int, conn: Any
) -> tuple[Order, Any]:
    """Check the payment against the order and write it; the order and its `order.paid`
    event (or `_NOT_PAID_NOW` for a repeat)."""
    policy = get_policy()
    order, around, merchant = await _paying(order_id, conn, lock=False)
    if order is None:
        raise NotFound("order", "orderId")
    if order.status in PAID_STATES:
        if order.channel_txn_id == channel_txn_id and order.channel == channel:
            return order, _NOT_PAID_NOW  # a repeat of the payment already applied
        raise DomainError(
            OrderErrorCode.DUPLICATE_PAYMENT,
            "order already paid by another transaction; refund the duplicate",
            "channelTxnId",
        )
    if order.status not in (OrderStatus.CREATED, OrderStatus.PAYING):
        raise DomainError(OrderErrorCode.INVALID_STATE, f"order is {order.status}", "orderId")
    if channel != order.channel:
        raise DomainError(OrderErrorCode.INVALID_STATE, "paid through another channel", "channel")
    if amount_fen != order.cash_fen:
        raise DomainError(
            OrderErrorCode.AMOUNT_MISMATCH, "paid amount differs from the order", "amountFen"
        )
    assert around is not None and merchant is not None  # the join found the order
    plan = _plan(order, policy, around)
    now = datetime.now(UTC)
    paid_day = today_shanghai(now)
    settle_on = paid_day + timedelta(days=policy.order.settle_days)
    lots = [
        (kind, holder_id, points, recruiter)
        for kind, holder_id, points, recruiter in (
            (HolderKind.CONSUMER, order.consumer_id, plan.consumer_points, None),
            (HolderKind.MERCHANT, order.merchant_id, plan.merchant_points,
             merchant.recruiter_user_id),
        )
        if points
    ]  # fmt: skip
    order.status = OrderStatus.PAID
    order.channel_txn_id = channel_txn_id
    order.paid_at = now
    order.settle_on = settle_on
    order.settlement = plan.to_json()
    # The lots (each holder type has its own pool, SPEC §4) and the order row are
    # written with the ledger entry, in its statement, and only with it.
    writes: list[ledger.Write] = []
    if lots:
        writes.append(
            Insert(
                "point_lots",
                tuple(
                    {"order_id": order.id, "holder_kind": kind.value, "holder_id": holder_id,
                     "pool": kind.value, "points": points, "status": LotStatus.PENDING.value,
                     "activate_on": settle_on, "released_units": 0, "release_count": 0,
                     "recruiter_user_id": Typed(recruiter, "bigint"), "created_at": now}
                    for kind, holder_id, points, recruiter in lots
                ),
            )
        )  # fmt: skip
    writes.append(
        Update(
            "orders",
            {"status": OrderStatus.PAID.value, "channel_txn_id": channel_txn_id,
             "paid_at": now, "settle_on": settle_on, "settlement": order.settlement},
            (Eq("id", order.id),),
        )
    )  # fmt: skip
    # What happened, for those who follow it (the heat map among them), written with it:
    # only if the entry is. Where it was paid rides along, so the heat map need not look.
    paid = outbox.event(
        EventKind.ORDER_PAID,
        f"order:{order.id}",
        order_id=order.id,
        consumer_id=order.consumer_id,
        merchant_id=order.merchant_id,
        amount_fen=order.amount_fen,
        cash_fen=order.cash_fen,
        voucher_fen=order.voucher_fen,
        channel=order.channel,
        paid_at=now.isoformat(),
        merchant_lat=merchant.lat,
        merchant_lng=merchant.lng,
    )
    writes.append(Insert("outbox_events", (outbox.columns(paid),)))
    await ledger.post_with(
        Entry(
            "order_paid",
            f"order:{order.id}",
            _payment_postings(order, plan),
            idem_key=f"order:{order.id}:paid",
        ),
        writes=writes,
        guard=_unpaid(order.id),
        conn=conn,
    )
    return order, paid
