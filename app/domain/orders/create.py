"""Opening an order (app and counter): checks, the insert, the voucher hold, the first
payment at the channel.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import ledger
from app.domain.ledger import Entry, Post, acct
from app.domain.policy import Policy, get_policy
from app.domain.settlement import discount_fen
from app.infra import outbox, sql
from app.infra.errors import DomainError, NotFound
from app.infra.outbox import EventKind
from app.models.merchants import MerchantStatus
from app.models.orders import Order, OrderOrigin, OrderStatus

if TYPE_CHECKING:
    from app.services.payments import FirstPayment

from app.domain.orders.payment import mark_paid
from app.domain.orders.repository import _created_payload, _insert_order, _lock_order, _order_facts
from app.domain.orders.rules import (
    VOUCHER_CHANNEL,
    OrderErrorCode,
    _check_amounts,
    _counter_key,
    _counter_order_expired,
    _idempotency_key,
    _refuse_unless_open_to,
    _same_counter_request,
    _same_request,
    _vouchers_short,
    counter_order_expired,
)


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
    """Open an order; vouchers it spends are held at once, so they cannot be spent twice."""
    policy = policy or get_policy()
    key = _idempotency_key(idempotency_key)
    _check_amounts(amount_fen, voucher_fen, policy)

    facts, channels = await _order_facts(consumer_id, merchant_id, key)
    if facts["existing"] is not None:
        existing = await Order.get(id=facts["existing"])
        return _same_request(existing, merchant_id, amount_fen, voucher_fen)
    _refuse_unless_open_to(facts, consumer_id)

    cash = amount_fen - voucher_fen
    first = None
    if cash > 0:
        from app.services.payments import FirstPayment
        from app.services.routing import route

        way = await route(merchant_id, channel, channels)
        chosen = way.channel
        first = FirstPayment(way.provider_merchant_id, facts["openid"], way.failing)
    else:
        chosen = VOUCHER_CHANNEL
    discount_bps = int(facts["discount_bps"])
    row: dict[str, Any] = dict(
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        idempotency_key=key,
        amount_fen=amount_fen,
        voucher_fen=voucher_fen,
        cash_fen=cash,
        discount_bps=discount_bps,
        discount_fen=discount_fen(amount_fen, discount_bps),
        channel=chosen,
        policy=policy.name,
    )
    created = outbox.event(EventKind.ORDER_CREATED, "")  # its subject and payload: the row's
    try:
        if not voucher_fen:  # a single insert: nothing to hold together
            order, first = await _insert_order(row, connections.get("default"), first, created)
        else:
            async with in_transaction() as conn:
                order, first = await _insert_order(row, conn, first, created)
                await _hold_vouchers(order, conn)
    except ledger.Overdraft:
        raise _vouchers_short() from None
    except IntegrityError:
        # The same key raced us: the first order wins, this call returns it.
        raced = await Order.get_or_none(consumer_id=consumer_id, idempotency_key=key)
        if raced is None:
            raise
        return _same_request(raced, merchant_id, amount_fen, voucher_fen)
    outbox.publish([replace(created, subject=f"order:{order.id}", payload=_created_payload(order))])

    if cash == 0:
        return await mark_paid(
            order.id, channel=VOUCHER_CHANNEL, channel_txn_id=f"voucher-{order.id}", amount_fen=0
        )
    assert first is not None  # cash to pay: routed above
    await _start_payment(order, first)
    return order


async def _hold_vouchers(order: Order, conn: Any) -> None:
    """The vouchers an order spends, set aside in the transaction that commits to them:
    an overdraft (`ledger.Overdraft`, mapped to voucherFen by the callers) fails the
    whole transaction."""
    uid = order.consumer_id
    await ledger.post(
        Entry(
            "voucher_hold",
            f"order:{order.id}",
            [Post(acct.consumer_voucher(uid), acct.consumer_voucher_held(uid), order.voucher_fen)],
            idem_key=f"order:{order.id}:hold",
        ),
        conn=conn,
    )


async def _start_payment(order: Order, first: FirstPayment) -> None:
    """The first payment at the channel; the order moves to PAYING with its parameters
    in the statement that records them (or is reloaded, paid by a fast notification)."""
    from app.services.routing import start_payment

    await start_payment(order, first=first)


async def open_counter_order(
    *,
    consumer_id: int,
    merchant_id: int,
    amount_fen: int,
    opened_by: str,
    idempotency_key: str,
    policy: Policy | None = None,
) -> Order:
    """A counter order (SPEC §13): the store enters the amount for a consumer it scanned;
    the discount is frozen now, as for any order, and the order waits, unconfirmed, for
    the consumer to choose vouchers and a channel (`confirm_counter_order`).

    Idempotent per opener (`opened_by`: a device's or a person's key) and key: the same
    key never opens two orders, whoever they would be for."""
    policy = policy or get_policy()
    counter_key = _counter_key(opened_by, idempotency_key)
    _check_amounts(amount_fen, 0, policy)
    existing = await Order.get_or_none(counter_key=counter_key)
    if existing is not None:
        return _same_counter_request(existing, consumer_id, merchant_id, amount_fen)
    # the order's own key (unique per consumer, as every order has one), from the opener's
    own_key = "counter:" + hashlib.sha256(counter_key.encode()).hexdigest()[:48]
    facts, _ = await _order_facts(consumer_id, merchant_id, own_key)
    _refuse_unless_open_to(facts, consumer_id)
    discount_bps = int(facts["discount_bps"])
    row: dict[str, Any] = dict(
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        idempotency_key=own_key,
        amount_fen=amount_fen,
        voucher_fen=0,
        cash_fen=amount_fen,
        discount_bps=discount_bps,
        discount_fen=discount_fen(amount_fen, discount_bps),
        channel="",  # the consumer chooses it when confirming
        policy=policy.name,
        status=OrderStatus.UNCONFIRMED.value,
        origin=OrderOrigin.COUNTER.value,
        counter_key=counter_key,
    )
    created = outbox.event(EventKind.ORDER_CREATED, "")  # its subject and payload: the row's
    try:
        order, _ = await _insert_order(row, connections.get("default"), None, created)
    except IntegrityError:
        # The same key raced us: the first order wins, this call returns it.
        raced = await Order.get_or_none(counter_key=counter_key)
        if raced is None:
            raise
        return _same_counter_request(raced, consumer_id, merchant_id, amount_fen)
    outbox.publish([replace(created, subject=f"order:{order.id}", payload=_created_payload(order))])
    return order


async def confirm_counter_order(
    order_id: int,
    consumer_id: int,
    *,
    voucher_fen: int,
    channel: str,
    policy: Policy | None = None,
) -> tuple[Order, bool]:
    """The consumer agrees to a counter order of theirs: the vouchers it spends are held
    at once (as `create_order` holds them), the rest is to be paid through `channel`.
    The order and whether this call confirmed it (False: a repeat of the same confirmation,
    answered with the order as it is now). Anyone else's order is not found."""
    policy = policy or get_policy()
    try:
        async with in_transaction() as tx:
            order = await _lock_order(order_id, tx)
            if order is None or order.consumer_id != consumer_id:
                raise NotFound("order", "orderId")
            if order.origin != OrderOrigin.COUNTER:
                raise DomainError(
                    OrderErrorCode.INVALID_STATE, "not an order opened at a counter", "orderId"
                )
            if order.status == OrderStatus.UNCONFIRMED and counter_order_expired(order):
                raise _counter_order_expired()
            if order.status == OrderStatus.CLOSED and not order.channel:
                raise _counter_order_expired()  # closed before anyone confirmed it
            if order.status != OrderStatus.UNCONFIRMED:
                if order.status != OrderStatus.CLOSED and order.voucher_fen == voucher_fen:
                    return order, False
                raise DomainError(
                    OrderErrorCode.INVALID_STATE,
                    f"order is {order.status}; it was confirmed before",
                    "orderId",
                )
            _check_amounts(order.amount_fen, voucher_fen, policy)
            status = await sql.fetch(
                tx, "SELECT status FROM merchants WHERE id = ?", [order.merchant_id]
            )
            if status[0]["status"] != MerchantStatus.APPROVED:
                raise DomainError(
                    OrderErrorCode.MERCHANT_UNAVAILABLE,
                    "merchant is not open for orders",
                    "orderId",
                )
            order.voucher_fen = voucher_fen
            order.cash_fen = order.amount_fen - voucher_fen
            order.channel = channel if order.cash_fen else VOUCHER_CHANNEL
            order.status = OrderStatus.CREATED
            await order.save(
                using_db=tx, update_fields=["voucher_fen", "cash_fen", "channel", "status"]
            )
            if voucher_fen:
                await _hold_vouchers(order, tx)
    except ledger.Overdraft:
        raise _vouchers_short() from None
    return order, True
