"""Checkout in the app (SPEC §3): a consumer opens an order at a store and pays it.

The use case around the order's rules (`app.domain.orders`): the checks and the facts
they need (one query, which reads the merchant's channel table too), the channel the
order pays through (`routing`: mark-downs and failure counts in one Redis round trip),
the order row with its first payment row and its event (one statement; the vouchers it
spends held in the same transaction), then the payment at the channel (`payments`).
An order paid with vouchers alone is paid at once.
"""

from __future__ import annotations

from dataclasses import replace

from app.domain import orders
from app.domain.orders import Along
from app.domain.policy import Policy, get_policy
from app.models.orders import Order
from app.services import payments
from app.services.routing import route, start_payment


async def create_order(
    *,
    consumer_id: int,
    merchant_id: int,
    amount_fen: int,
    voucher_fen: int = 0,
    channel: str | None = None,
    idempotency_key: str,
    policy: Policy | None = None,
) -> Order:
    """Open an order; vouchers it spends are held at once, so they cannot be spent twice.
    Idempotent by (consumer, idempotency key): a repeat answers the first order."""
    new = await orders.prepare_order(
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        amount_fen=amount_fen,
        voucher_fen=voucher_fen,
        idempotency_key=idempotency_key,
        policy=policy or get_policy(),
    )
    if isinstance(new, Order):  # made before under this key: the same request
        return new

    if new.cash_fen == 0:
        inserted = await orders.insert_order(new, orders.VOUCHER_CHANNEL)
        if not inserted.new:
            return inserted.order
        return await orders.mark_paid(
            inserted.order.id,
            channel=orders.VOUCHER_CHANNEL,
            channel_txn_id=f"voucher-{inserted.order.id}",
            amount_fen=0,
        )

    way = await route(merchant_id, channel, new.channels)
    first = payments.FirstPayment(way.provider_merchant_id, new.openid, way.failing)
    along = Along(
        payments.PAYMENT_OF_NEW_ORDER,
        payments.payment_of_new_order(new.cash_fen, new.discount_fen, first, way.channel),
    )
    inserted = await orders.insert_order(new, way.channel, along)
    if not inserted.new:
        return inserted.order
    assert inserted.along is not None  # the payment row, written with the order
    payment_id, trade_no = inserted.along
    # the order moves to PAYING with its parameters in the statement that records them
    # (or is reloaded, paid by a fast notification)
    await start_payment(
        inserted.order, first=replace(first, payment_id=payment_id, trade_no=trade_no)
    )
    return inserted.order
