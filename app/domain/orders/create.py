"""Opening an order (app and counter): checks, the insert, the voucher hold.

An app order is opened in two steps around its routing, by the checkout
(`app.services.checkout`): `prepare_order` (the checks and the one query of facts they
need), then `insert_order` (the row, its event and the row written along: the first
payment; the voucher hold in the same transaction).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import ledger
from app.domain.ledger import Entry, Post, acct
from app.domain.orders.repository import (
    Along,
    _created_payload,
    _insert_order,
    _lock_order,
    _order_facts,
)
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
from app.domain.policy import Policy, get_policy
from app.domain.settlement import discount_fen
from app.infra import outbox, sql
from app.infra.errors import DomainError, NotFound
from app.infra.outbox import EventKind
from app.models.merchants import MerchantStatus
from app.models.orders import Order, OrderOrigin, OrderStatus


@dataclass(frozen=True)
class NewOrder:
    """An app order that passed its checks, not written yet: its row but for the
    channel, the buyer's WeChat openid (for the first payment) and the merchant's
    channel table rows (`CHANNEL_TABLE`, in order), all read in one query."""

    row: dict[str, Any]
    openid: str | None
    channels: list[dict[str, Any]]

    @property
    def cash_fen(self) -> int:
        return int(self.row["cash_fen"])

    @property
    def discount_fen(self) -> int:
        return int(self.row["discount_fen"])


@dataclass(frozen=True)
class Inserted:
    """The order `insert_order` wrote, or (`new` False) the one the same key wrote first,
    when a concurrent call raced this one; `along`: the id and out_trade_no of the row
    written along with it, if any."""

    order: Order
    new: bool
    along: tuple[int, str] | None = None


async def prepare_order(
    *,
    consumer_id: int,
    merchant_id: int,
    amount_fen: int,
    voucher_fen: int = 0,
    idempotency_key: str,
    policy: Policy,
) -> NewOrder | Order:
    """The checks of a new app order and the facts they need, in one query: the order
    made under this key before (the same request, else `IDEMPOTENCY_KEY_REUSED`), or
    the new order's row, its discount frozen."""
    key = _idempotency_key(idempotency_key)
    _check_amounts(amount_fen, voucher_fen, policy)

    facts, channels = await _order_facts(consumer_id, merchant_id, key)
    if facts["existing"] is not None:
        existing = await Order.get(id=facts["existing"])
        return _same_request(existing, merchant_id, amount_fen, voucher_fen)
    _refuse_unless_open_to(facts, consumer_id)

    discount_bps = int(facts["discount_bps"])
    row: dict[str, Any] = dict(
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        idempotency_key=key,
        amount_fen=amount_fen,
        voucher_fen=voucher_fen,
        cash_fen=amount_fen - voucher_fen,
        discount_bps=discount_bps,
        discount_fen=discount_fen(amount_fen, discount_bps),
        channel="",
        policy=policy.name,
    )
    return NewOrder(row, facts["openid"], channels)


async def insert_order(new: NewOrder, channel: str, along: Along | None = None) -> Inserted:
    """Write a prepared order paying through `channel`, its `order.created` event and the
    row `along` in one statement; the vouchers it spends are held in the same
    transaction, so they cannot be spent twice (`VOUCHERS_INSUFFICIENT` on voucherFen
    otherwise). A concurrent call with the same key that won: its order, not new."""
    row = {**new.row, "channel": channel}
    created = outbox.event(EventKind.ORDER_CREATED, "")  # its subject and payload: the row's
    try:
        if not row["voucher_fen"]:  # a single insert: nothing to hold together
            order, written = await _insert_order(row, connections.get("default"), along, created)
        else:
            async with in_transaction() as conn:
                order, written = await _insert_order(row, conn, along, created)
                await _hold_vouchers(order, conn)
    except ledger.Overdraft:
        raise _vouchers_short() from None
    except IntegrityError:
        # The same key raced us: the first order wins, this call returns it.
        raced = await Order.get_or_none(
            consumer_id=row["consumer_id"], idempotency_key=row["idempotency_key"]
        )
        if raced is None:
            raise
        same = _same_request(raced, row["merchant_id"], row["amount_fen"], row["voucher_fen"])
        return Inserted(same, new=False)
    outbox.publish([replace(created, subject=f"order:{order.id}", payload=_created_payload(order))])
    return Inserted(order, new=True, along=written)


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
    at once (as `insert_order` holds them), the rest is to be paid through `channel`.
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
