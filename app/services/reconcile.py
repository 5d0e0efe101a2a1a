"""Payment reconciliation (SPEC §9): what notifications did not settle, the channel's
answer to a query does.

- Payments still pending after `stale_minutes` are queried at their channel: paid ones
  go through the same `apply_paid` as a notification (exactly once); ones the channel
  closed or never saw are closed here (`close_order`); open ones past the expiry are
  closed at the channel first, so a late payment cannot land on a closed order.
- Payments the channel refused at creation are queried the same way (a refusal does not
  prove the trade was never made); orders whose payment was never recorded close.
- A payment that lands after its order closed is refunded whole (`strays_refunded`).
- Splits (分账) pending or processing are asked for / followed to completion.
- Refunds still pending at the channel (a transient failure) are sent again; ones
  processing are queried.

Every step is safe to repeat; one failing item never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.payments import registry
from app.adapters.payments.base import ChannelError, TradeState
from app.adapters.payments.money import SHANGHAI
from app.domain.orders import close_order
from app.infra.config import get_settings
from app.infra.errors import DomainError
from app.models.orders import Order, OrderStatus
from app.models.payments import (
    ChannelRefund,
    Payment,
    PaymentStatus,
    RefundStatus,
    SplitStatus,
)
from app.services import refunds
from app.services.payments import apply_paid, run_split

log = logging.getLogger("app.adapters.payments.reconcile")

OPEN_ORDER = (OrderStatus.CREATED, OrderStatus.PAYING)


@dataclass
class ReconcileReport:
    paid: int = 0
    closed: int = 0
    strays_refunded: int = 0  # paid after their order closed: refunded whole
    still_open: int = 0
    splits_finished: int = 0
    refunds_sent: int = 0
    refunds_done: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


async def _close(payment: Payment | None, order_id: int, report: ReconcileReport) -> None:
    try:
        await close_order(order_id)
    except DomainError as exc:
        log.info("order %s not closed: %s", order_id, exc.code)
        return
    if payment is not None:
        await Payment.filter(
            id=payment.id, status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED]
        ).update(status=PaymentStatus.CLOSED)
    report.closed += 1


async def _reconcile_payment(p: Payment, expired_before: datetime, report: ReconcileReport) -> None:
    adapter = registry.get_channel(p.channel)
    q = await adapter.query(p.out_trade_no, p.provider_merchant_id)
    if q.state in (TradeState.PAID, TradeState.REFUNDED):
        if not q.channel_txn_id or q.amount_fen is None:
            raise ChannelError("CHANNEL_BAD_RESPONSE", "paid without txn id or amount")
        outcome = await apply_paid(p, q.channel_txn_id, q.amount_fen)
        if outcome == "applied":
            report.paid += 1
            await run_split(p.id)
        elif outcome == "stray":
            report.strays_refunded += 1
        return
    open_order = await Order.exists(id=p.order_id, status__in=OPEN_ORDER)
    if q.state == TradeState.NOT_PAID:
        if open_order and p.created_at > expired_before:
            report.still_open += 1
            return
        await adapter.close(p.out_trade_no, p.provider_merchant_id)
    if open_order:
        await _close(p, p.order_id, report)
    else:
        # The order ended another way (paid by other means, closed): this payment is void.
        await Payment.filter(
            id=p.id, status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED]
        ).update(status=PaymentStatus.CLOSED, error_code="ORDER_NOT_OPEN")
        report.closed += 1


async def reconcile_payments(
    *, stale_minutes: int | None = None, now: datetime | None = None, limit: int = 200
) -> ReconcileReport:
    s = get_settings()
    # Aware Shanghai times, as the rest of the payments code reads them.
    now = (now or datetime.now(UTC)).astimezone(SHANGHAI)
    stale = s.payment_stale_minutes if stale_minutes is None else stale_minutes
    cutoff = now - timedelta(minutes=stale)
    expired_before = now - timedelta(minutes=s.payment_expire_minutes)
    report = ReconcileReport()

    # A refusal is asked about too: a channel can answer an error and still have made the
    # trade (a 5xx after the fact), and a consumer can pay it; closing the order blind
    # would turn that payment into a stray one.
    for p in (
        await Payment.filter(
            status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED], created_at__lt=cutoff
        )
        .order_by("id")
        .limit(limit)
    ):
        try:
            await _reconcile_payment(p, expired_before, report)
        except (ChannelError, DomainError) as exc:
            report.errors += 1
            log.warning("payment %s not reconciled: %s", p.id, exc.code)

    # Never recorded at all: the order cannot be paid, it closes.
    with_payment = Payment.filter(order_id__isnull=False).values_list("order_id", flat=True)
    orphans = (
        await Order.filter(status__in=OPEN_ORDER, created_at__lt=cutoff, cash_fen__gt=0)
        .exclude(id__in=await with_payment)
        .limit(limit)
    )
    for o in orphans:
        await _close(None, o.id, report)

    for p in await Payment.filter(
        split_status__in=[SplitStatus.PENDING, SplitStatus.PROCESSING]
    ).limit(limit):
        try:
            if await run_split(p.id) == SplitStatus.FINISHED:
                report.splits_finished += 1
        except (ChannelError, DomainError):
            report.errors += 1

    for r in await ChannelRefund.filter(status=RefundStatus.PENDING).limit(limit):
        try:
            await refunds.submit(r)
            report.refunds_sent += 1
        except (ChannelError, DomainError) as exc:
            report.errors += 1
            log.warning("refund %s not sent: %s", r.id, exc.code)
    for r in await ChannelRefund.filter(
        status=RefundStatus.PROCESSING, created_at__lt=cutoff
    ).limit(limit):
        try:
            if await refunds.follow(r) == RefundStatus.SUCCESS:
                report.refunds_done += 1
        except (ChannelError, DomainError) as exc:
            report.errors += 1
            log.warning("refund %s not followed: %s", r.id, exc.code)
    return report


async def reconcile(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    """For a scheduler (arq cron): one pass with the configured windows."""
    return (await reconcile_payments()).as_dict()
