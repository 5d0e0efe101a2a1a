"""Payments around an order: create at the channel, apply a verified payment exactly
once, run the split (分账) after success."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from app.adapters.payments import health, registry, split_caps
from app.adapters.payments.base import (
    ChannelError,
    ClientKind,
    PaymentErrorCode,
    PayRequest,
    SplitPlan,
    SplitRequest,
)
from app.domain import orders as order_domain
from app.domain import receivables
from app.domain.policy import get_policy
from app.infra.config import get_settings
from app.infra.errors import DomainError
from app.infra.sql import fetch, run
from app.models.orders import Order, OrderStatus
from app.models.payments import MerchantChannel, Payment, PaymentStatus, SplitStatus
from app.models.users import User
from app.services.payment_refs import notify_url, out_trade_no, provider_merchant_id, split_no
from app.services.refunds import refund_stray

log = logging.getLogger("app.adapters.payments")


_SETTLED = (PaymentStatus.PAID, PaymentStatus.CLOSED, PaymentStatus.STRAY)


@dataclass(frozen=True)
class FirstPayment:
    """What the order's creation already read, for the first payment of a new order
    (no payment row can exist yet): saves three lookups on the hot path. The order is
    still CREATED; once the channel has the payment, the order moves to PAYING in the
    statement that records it."""

    provider_merchant_id: str
    payer_openid: str | None
    channel_failing: bool = True  # as routing saw it: whether a success must reset it
    payment_id: int | None = None  # the payment row, when it was written with the order
    trade_no: str = ""  # and its out_trade_no


# The payment row of an order being inserted in the same statement (PostgreSQL: a
# data-modifying CTE after `o AS (INSERT INTO orders ... RETURNING *)`); the trade
# number is `out_trade_no(o.id)`.
PAYMENT_OF_NEW_ORDER = (
    "p AS (INSERT INTO payments (order_id, channel, out_trade_no, amount_fen, merchant_fen, "
    "platform_fen, provider_merchant_id, status, error_code, split_status, "
    "split_returned_fen, split_attempts, created_at, updated_at) "
    "SELECT o.id, o.channel, 'MS' || CASE WHEN o.id < 10000000000 "
    "THEN lpad(o.id::text, 10, '0') ELSE o.id::text END, o.cash_fen, ?, ?, ?, ?, '', ?, "
    "0, 0, o.created_at, o.created_at FROM o RETURNING id, out_trade_no)"
)


def payment_of_new_order(
    cash_fen: int, discount_fen: int, first: FirstPayment, channel: str
) -> list[Any]:
    """The values of `PAYMENT_OF_NEW_ORDER`, in order."""
    plan = split_caps.planned_split(cash_fen, discount_fen, get_policy().split_caps.of(channel))
    return [plan.merchant_fen, plan.platform_fen, first.provider_merchant_id,
            PaymentStatus.PENDING.value, SplitStatus.NONE.value]  # fmt: skip


async def start_payment(
    order: Order, client: str | None = None, *, first: FirstPayment | None = None
) -> dict[str, Any]:
    """Create the payment at the order's channel; the client's pay parameters.

    Idempotent per order: a repeat returns the parameters already made. A channel
    failure raises a `ChannelError` (the order stays; reconciliation settles it) and
    counts against the channel's health when it is transient. With `first` (a new
    order), the order moves to PAYING with the parameters, unless a notification paid
    it meanwhile (then `order` is reloaded).
    """
    existing = None
    if first is None:
        existing = await Payment.get_or_none(order_id=order.id)
        if (
            existing is not None
            and existing.status == PaymentStatus.PENDING
            and existing.pay_params
        ):
            return dict(existing.pay_params)
        # A refused creation (failed) may be tried again; a paid or closed one may not.
        if existing is not None and existing.status in _SETTLED:
            raise DomainError("INVALID_STATE", f"payment is already {existing.status}", "order")
        consumer = await User.get_or_none(id=order.consumer_id)
        first_seen = FirstPayment(
            await provider_merchant_id(order.merchant_id, order.channel),
            consumer.wechat_openid if consumer else None,
        )
    else:
        first_seen = first
    adapter = registry.get_channel(order.channel)
    plan = split_caps.planned_split(
        order.cash_fen, order.discount_fen, get_policy().split_caps.of(order.channel)
    )
    pmid = first_seen.provider_merchant_id
    # The payer id the channel knows: the WeChat openid for WeChat Pay and the
    # aggregators (WeChat mini-program pay through them). We hold no Alipay buyer id, so
    # Alipay pays in the app (order string) unless the client says otherwise.
    openid = first_seen.payer_openid if order.channel != "alipay" else None
    if client not in (None, *[k.value for k in ClientKind]):
        raise DomainError("INVALID", "client is miniprogram or app", "client")
    kind = ClientKind(client) if client else (ClientKind.MINIPROGRAM if openid else ClientKind.APP)
    if order.channel == "sandbox":
        kind = ClientKind.WEB
    if existing is not None:
        payment_id, trade_no = existing.id, existing.out_trade_no
    elif first_seen.payment_id is not None:
        payment_id, trade_no = first_seen.payment_id, first_seen.trade_no
    else:
        payment_id, trade_no = await _new_payment(order, plan, pmid)
    req = PayRequest(
        out_trade_no=trade_no,
        amount_fen=order.cash_fen,
        description=f"Order {order.id}",
        notify_url=notify_url(order.channel),
        split=plan,
        provider_merchant_id=pmid,
        client=kind,
        payer_openid=openid,
        expire_minutes=get_settings().payment_expire_minutes,
    )
    try:
        started = await adapter.create_payment(req)
    except ChannelError as exc:
        if exc.transient:
            await health.record_failure(order.channel)
        # A timeout leaves the outcome unknown: keep it pending for reconciliation.
        status = PaymentStatus.PENDING if exc.code == "CHANNEL_TIMEOUT" else PaymentStatus.FAILED
        await Payment.filter(id=payment_id).update(status=status, error_code=exc.code[:64])
        log.warning("payment for order %s failed at %s: %s", order.id, order.channel, exc.code)
        raise
    if first_seen.channel_failing:
        await health.record_success(order.channel)
    params = json.dumps(started.pay_params)
    values = [params, PaymentStatus.PENDING.value, datetime.now(UTC), payment_id]
    conn = connections.get("default")
    if first is None:
        await run(conn, _STARTED, values)
        return dict(started.pay_params)
    paying = [OrderStatus.PAYING.value, params, order.id, OrderStatus.CREATED.value]
    # one statement: the payment's parameters and the order's state
    both = f"WITH p AS ({_STARTED}) {_ORDER_PAYING} RETURNING id"
    moved = len(await fetch(conn, both, values + paying))
    if moved:
        order.status, order.pay_params = OrderStatus.PAYING, dict(started.pay_params)
    else:  # paid already (a fast notification): keep what the payment made of it
        await order.refresh_from_db()
    return dict(started.pay_params)


_STARTED = (
    "UPDATE payments SET pay_params = ?, status = ?, error_code = '', updated_at = ? WHERE id = ?"
)
_ORDER_PAYING = "UPDATE orders SET status = ?, pay_params = ? WHERE id = ? AND status = ?"

_NEW_PAYMENT = (
    "INSERT INTO payments (order_id, channel, out_trade_no, amount_fen, merchant_fen, "
    "platform_fen, provider_merchant_id, status, error_code, split_status, "
    "split_returned_fen, split_attempts, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0, 0, ?, ?) RETURNING id"
)


async def _new_payment(order: Order, plan: SplitPlan, pmid: str) -> tuple[int, str]:
    """The payment row, before the channel is asked (one hand-written insert, for an
    order whose own insert did not write it); its id and out_trade_no."""
    now = datetime.now(UTC)
    trade_no = out_trade_no(order.id)
    rows = await fetch(
        connections.get("default"),
        _NEW_PAYMENT,
        [order.id, order.channel, trade_no, order.cash_fen, plan.merchant_fen,
         plan.platform_fen, pmid, PaymentStatus.PENDING.value, SplitStatus.NONE.value, now, now],
    )  # fmt: skip
    return int(rows[0]["id"]), trade_no


# mark_paid's answers that mean the order will never take this money
_ORDER_REFUSES = frozenset({"INVALID_STATE", "DUPLICATE_PAYMENT"})


async def apply_paid(payment: Payment, channel_txn_id: str, amount_fen: int) -> str:
    """Apply a verified "paid" exactly once. Returns applied | duplicate | stray.

    `stray`: the order could no longer take the money (closed meanwhile, or paid by
    another transaction): the payment is refunded whole (`refunds.refund_stray`).
    """
    if payment.status in (PaymentStatus.PAID, PaymentStatus.STRAY):
        if payment.channel_txn_id != channel_txn_id:
            raise DomainError("CONFLICT", "order already paid by another transaction", "order")
        if payment.status == PaymentStatus.STRAY:
            await refund_stray(payment.id, channel_txn_id, "REPEAT")  # on its way, once
        return "duplicate"
    if amount_fen != payment.amount_fen:
        raise DomainError("AMOUNT_MISMATCH", "paid amount differs from the payment", "amountFen")
    try:
        await order_domain.mark_paid(
            payment.order_id,
            channel=payment.channel,
            channel_txn_id=channel_txn_id,
            amount_fen=amount_fen,
        )
    except DomainError as exc:
        if exc.code not in _ORDER_REFUSES:
            raise
        await refund_stray(payment.id, channel_txn_id, exc.code)
        return "stray"
    adapter = registry.get_channel(payment.channel)
    needs_split = adapter.splits_after_payment and payment.platform_fen > 0
    won = (
        await Payment.filter(id=payment.id)
        .exclude(status=PaymentStatus.PAID)
        .update(
            status=PaymentStatus.PAID,
            channel_txn_id=channel_txn_id,
            paid_at=datetime.now(UTC),
            split_status=SplitStatus.PENDING if needs_split else SplitStatus.NONE,
            split_out_no=split_no(payment) if needs_split else None,
        )
    )
    return "applied" if won else "duplicate"


async def run_split(payment_id: int) -> str:
    """Ask the channel for the split of a paid payment, or follow one in progress.

    Before the first request the platform's share is capped at what the channel allows
    this merchant (`split_caps`) and written on the payment; from then on the payment's
    figures stand, so a repeated request under the same split number asks the same."""
    payment = await Payment.get(id=payment_id)
    if payment.split_status not in (SplitStatus.PENDING, SplitStatus.PROCESSING):
        return str(payment.split_status)
    if payment.status != PaymentStatus.PAID or not payment.channel_txn_id:
        return str(payment.split_status)  # never before a success
    adapter = registry.get_channel(payment.channel)
    order = await Order.get(id=payment.order_id)
    if payment.split_status == SplitStatus.PENDING and payment.split_attempts == 0:
        try:
            cap = await split_caps.merchant_cap_bps(
                payment.channel,
                payment.provider_merchant_id,
                get_policy().split_caps.of(payment.channel),
            )
        except ChannelError as exc:
            log.warning("split cap of payment %s not known yet: %s", payment.id, exc.code)
            return str(payment.split_status)
        plan = SplitPlan.for_order(payment.amount_fen, order.discount_fen, cap)
        if plan.platform_fen != payment.platform_fen:
            await Payment.filter(id=payment.id).update(
                platform_fen=plan.platform_fen, merchant_fen=plan.merchant_fen
            )
            payment.platform_fen, payment.merchant_fen = plan.platform_fen, plan.merchant_fen
    req = SplitRequest(
        out_trade_no=payment.out_trade_no,
        channel_txn_id=payment.channel_txn_id,
        out_split_no=payment.split_out_no or split_no(payment),
        platform_fen=payment.platform_fen,
        merchant_fen=payment.merchant_fen,
        provider_merchant_id=payment.provider_merchant_id,
    )
    try:
        if payment.split_status == SplitStatus.PENDING:
            mc = await MerchantChannel.get_or_none(
                merchant_id=order.merchant_id, channel=payment.channel
            )
            if mc is None or not mc.split_receiver_ready:
                await adapter.prepare_split(payment.provider_merchant_id)
                if mc is not None:
                    await MerchantChannel.filter(id=mc.id).update(split_receiver_ready=True)
            result = await adapter.split(req)
        else:
            result = await adapter.query_split(req)
    except ChannelError as exc:
        await Payment.filter(id=payment.id).update(split_attempts=payment.split_attempts + 1)
        log.warning("split of payment %s not done yet: %s", payment.id, exc.code)
        return str(payment.split_status)
    status = {
        "finished": SplitStatus.FINISHED,
        "failed": SplitStatus.FAILED,
    }.get(result.status, SplitStatus.PROCESSING)
    await Payment.filter(id=payment.id).update(
        split_status=status,
        split_channel_id=result.channel_split_id or payment.split_channel_id,
        split_attempts=payment.split_attempts + 1,
    )
    if status == SplitStatus.FINISHED:
        # an order settled before its split finished: its receivable is recorded now
        await receivables.record_after_split(order.id)
    return str(status)


__all__ = ["PaymentErrorCode", "apply_paid", "run_split", "start_payment"]


async def run_split_safely(payment_id: int) -> None:
    """For background use: a failure is logged; reconciliation follows the split up."""
    try:
        await run_split(payment_id)
    except Exception:  # noqa: BLE001 - reconciliation retries
        log.exception("split of payment %s failed", payment_id)
