"""The channel side of a refund (the ledger side is `app.domain.orders.refund_order`).

`request_channel_refund(order, refund)` records a `ChannelRefund` keyed by the refund
key (the provider's out_refund_no / out_request_no), takes the platform's split share
back first when the split already happened (分账回退), then asks the channel. The
provider's refund notification (or reconciliation) marks it done.

`refund_stray(payment, ...)`: money that arrived for an order that could no longer take
it (closed meanwhile, or paid already) goes back whole to the payer, never into the
ledger: nothing of it was ever the platform's or the merchant's.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from app.adapters.payments import identifiers, registry
from app.adapters.payments.base import (
    ChannelError,
    PaymentErrorCode,
    RefundRequest,
    SplitReturnRequest,
)
from app.domain.settlement import share_of
from app.infra.errors import DomainError
from app.models.orders import Order, OrderRefund
from app.models.payments import (
    STRAY_REFUND_PREFIX,
    ChannelRefund,
    Payment,
    PaymentStatus,
    RefundStatus,
    SplitStatus,
)
from app.services.payment_refs import notify_url, split_no

log = logging.getLogger("app.adapters.payments")


async def cash_part(order: Order, refund: OrderRefund) -> int:
    """The cash (channel) part of a refund of `refund.amount_fen` of the order amount A:
    the same cumulative share the ledger reversed (`share_of`), so the channel returns
    exactly what the ledger took back, and a full refund returns exactly C."""
    if order.amount_fen == order.cash_fen:
        return int(refund.amount_fen)
    refunded = sum(
        r.amount_fen for r in await OrderRefund.filter(order_id=order.id, id__lte=refund.id)
    )
    before = refunded - refund.amount_fen
    return share_of(order.cash_fen, refunded, order.amount_fen) - share_of(
        order.cash_fen, before, order.amount_fen
    )


async def request_channel_refund(
    order: Order, refund: OrderRefund, *, cash_fen: int | None = None
) -> ChannelRefund | None:
    """Refund at the channel, after the ledger side committed. Idempotent per
    `refund.refund_key` (the provider's out_refund_no / out_request_no is derived from it:
    `identifiers.refund_no`).

    `cash_fen` overrides the channel amount (default: the cash part of the refund, see
    `cash_part`). Returns None when there is nothing to refund at a channel (an order
    paid wholly with vouchers, or no channel payment on record). A channel that refuses
    or does not answer does not raise: the refund stays recorded (`pending` is retried by
    reconciliation, `failed` is for operations) and is returned with its status. Raises
    DomainError REFUND_EXCEEDS_PAYMENT when refunds would pass the amount paid.
    """
    # The channel's refund number, derived from the client's key (any key gives one the
    # channel takes; the same key always the same one).
    key = identifiers.refund_no(order.channel, refund.refund_key)
    existing = await ChannelRefund.get_or_none(refund_key=key)
    if existing is None:
        amount = cash_fen if cash_fen is not None else await cash_part(order, refund)
        if amount <= 0:
            return None  # the refund is all vouchers: nothing goes back through a channel
        if not await Payment.exists(order_id=order.id, status=PaymentStatus.PAID):
            log.warning("order %s has no paid channel payment: nothing to refund there", order.id)
            return None
        existing = await _record(order, key, amount)
    if existing.status == RefundStatus.PENDING:
        # On a channel error the refund stays recorded with its status: reconciliation
        # retries what is pending.
        with contextlib.suppress(ChannelError):
            await submit(existing)
        existing = await ChannelRefund.get(id=existing.id)
    return existing


def stray_refund_key(payment: Payment) -> str:
    return identifiers.refund_no(payment.channel, f"{STRAY_REFUND_PREFIX}{payment.out_trade_no}")


async def refund_stray(payment_id: int, channel_txn_id: str, reason: str) -> ChannelRefund:
    """A verified payment its order refused (`reason`: the order's error code): the
    payment is marked `stray` and its whole amount refunded at the channel, once per
    payment (the key is the payment's). The refund is sent now; a channel error leaves it
    pending for reconciliation, as any refund."""
    async with in_transaction() as conn:
        payment = await Payment.filter(id=payment_id).select_for_update().using_db(conn).get()
        if payment.status == PaymentStatus.PAID:
            # (cannot happen: the order refused it) never refund money the ledger holds
            raise DomainError("CONFLICT", "the payment was applied to its order", "payment")
        first = payment.status != PaymentStatus.STRAY
        if first:
            await (
                Payment.filter(id=payment.id)
                .using_db(conn)
                .update(
                    status=PaymentStatus.STRAY,
                    channel_txn_id=channel_txn_id,
                    paid_at=datetime.now(UTC),
                    error_code=f"ORDER_REFUSED:{reason}"[:64],
                )
            )
        key = stray_refund_key(payment)
        cr = await ChannelRefund.filter(refund_key=key).using_db(conn).first()
        if cr is None:
            cr = await ChannelRefund.create(
                payment_id=payment.id, refund_key=key, amount_fen=payment.amount_fen, using_db=conn
            )
    if cr.status == RefundStatus.PENDING:
        with contextlib.suppress(ChannelError):
            await submit(cr)
        cr = await ChannelRefund.get(id=cr.id)
    if first:
        log.warning(
            "payment %s for order %s arrived after the order refused it (%s): refund %s %s",
            payment.id, payment.order_id, reason, cr.id, cr.status,
        )  # fmt: skip
    return cr


async def _record(order: Order, refund_key: str, amount: int) -> ChannelRefund:
    if amount <= 0:
        raise DomainError("INVALID", "a channel refund must be positive", "amountFen")
    async with in_transaction() as conn:
        payment = (
            await Payment.filter(order_id=order.id, status=PaymentStatus.PAID)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if payment is None:
            raise DomainError(
                PaymentErrorCode.NOT_PAID, "the order has no paid payment to refund", "order"
            )
        again = await ChannelRefund.filter(refund_key=refund_key).using_db(conn).first()
        if again is not None:
            return again
        earlier = (
            await ChannelRefund.filter(payment_id=payment.id)
            .exclude(status=RefundStatus.FAILED)
            .using_db(conn)
        )
        done = sum(r.amount_fen for r in earlier)
        if done + amount > payment.amount_fen:
            raise DomainError(
                PaymentErrorCode.REFUND_EXCEEDS_PAYMENT,
                "refunds would exceed the amount paid",
                "amountFen",
            )
        split_return = 0
        if payment.split_status == SplitStatus.FINISHED and payment.platform_fen > 0:
            # The platform gives back its share pro rata, cumulatively (all of it when
            # everything is refunded).
            target = share_of(payment.platform_fen, done + amount, payment.amount_fen)
            split_return = target - sum(r.split_return_fen for r in earlier)
        return await ChannelRefund.create(
            payment_id=payment.id,
            refund_key=refund_key,
            amount_fen=amount,
            split_return_fen=max(0, split_return),
            using_db=conn,
        )


async def submit(cr: ChannelRefund) -> None:
    """Send a recorded refund to the channel (split return first)."""
    payment = await Payment.get(id=cr.payment_id)
    adapter = registry.get_channel(payment.channel)
    return_no = identifiers.derive(payment.channel, "out_return_no", cr.refund_key, "RT")
    try:
        inline_return = getattr(adapter, "returns_split_with_refund", False)
        # Every number of this refund is checked before the first call: a number the
        # channel would refuse must not leave the split returned and the refund undone.
        identifiers.check(payment.channel, identifiers.refund_field(payment.channel), cr.refund_key)
        if not inline_return:
            identifiers.check(payment.channel, "out_return_no", return_no)
        if cr.split_return_fen > 0 and not cr.split_return_done and not inline_return:
            await adapter.return_split(
                SplitReturnRequest(
                    out_trade_no=payment.out_trade_no,
                    channel_txn_id=payment.channel_txn_id or "",
                    out_split_no=payment.split_out_no or split_no(payment),
                    channel_split_id=payment.split_channel_id,
                    out_return_no=return_no,
                    amount_fen=cr.split_return_fen,
                    provider_merchant_id=payment.provider_merchant_id,
                )
            )
            await ChannelRefund.filter(id=cr.id).update(split_return_done=True)
            await Payment.filter(id=payment.id).update(
                split_returned_fen=payment.split_returned_fen + cr.split_return_fen
            )
        result = await adapter.refund(
            RefundRequest(
                out_trade_no=payment.out_trade_no,
                channel_txn_id=payment.channel_txn_id,
                out_refund_no=cr.refund_key,
                amount_fen=cr.amount_fen,
                total_fen=payment.amount_fen,
                notify_url=notify_url(payment.channel),
                provider_merchant_id=payment.provider_merchant_id,
                reason="refund",
                split_return_fen=cr.split_return_fen if inline_return else 0,
            )
        )
        if inline_return and cr.split_return_fen > 0 and not cr.split_return_done:
            await ChannelRefund.filter(id=cr.id).update(split_return_done=True)
            await Payment.filter(id=payment.id).update(
                split_returned_fen=payment.split_returned_fen + cr.split_return_fen
            )
    except ChannelError as exc:
        status = RefundStatus.PENDING if exc.transient else RefundStatus.FAILED
        await ChannelRefund.filter(id=cr.id).update(
            status=status,
            error_code=(exc.provider_code or exc.code)[:64],
            attempts=cr.attempts + 1,
        )
        log.warning("refund %s at %s: %s", cr.id, payment.channel, exc.code)
        raise
    status = {
        "success": RefundStatus.SUCCESS,
        "failed": RefundStatus.FAILED,
    }.get(result.status, RefundStatus.PROCESSING)
    await ChannelRefund.filter(id=cr.id).update(
        channel_refund_id=result.channel_refund_id, attempts=cr.attempts + 1, error_code=""
    )
    # The provider's notification may already have marked it done: never step back.
    await ChannelRefund.filter(id=cr.id, status=RefundStatus.PENDING).update(
        status=status,
        done_at=datetime.now(UTC) if status != RefundStatus.PROCESSING else None,
    )


async def follow(cr: ChannelRefund) -> str:
    """Ask the channel about a refund still processing."""
    payment = await Payment.get(id=cr.payment_id)
    adapter = registry.get_channel(payment.channel)
    result = await adapter.query_refund(
        cr.refund_key, payment.out_trade_no, payment.provider_merchant_id
    )
    if result.status in ("success", "failed"):
        new = RefundStatus.SUCCESS if result.status == "success" else RefundStatus.FAILED
        await ChannelRefund.filter(id=cr.id, status=RefundStatus.PROCESSING).update(
            status=new, done_at=datetime.now(UTC)
        )
        return str(new)
    return str(cr.status)
