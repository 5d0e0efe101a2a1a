"""Orders, end to end (SPEC §3, §5): create, pay exactly once, refund, settle.

Money moves only through `app.domain.ledger.post`, inside the same transaction as the
order's state change. Everything a client or a provider can repeat is idempotent:
`createOrder` by (consumer, idempotency key), payment by order and channel txn id,
refunds by refund key, settlement by order.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.domain import audit, ledger, receivables
from app.domain.audit import Actor
from app.domain.ledger import Entry, Eq, Guard, In, Insert, Post, Typed, Update, acct
from app.domain.policy import Policy, get_policy
from app.domain.settlement import (
    Party,
    SettlementPlan,
    Surroundings,
    discount_fen,
    plan_settlement,
    share_of,
)
from app.infra import outbox, sql
from app.infra.config import get_settings
from app.infra.errors import DomainError, NotFound, error_codes
from app.infra.orm import from_row
from app.infra.outbox import EventKind
from app.models.ledger import Account, Asset
from app.models.merchants import MerchantStatus
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

if TYPE_CHECKING:
    from app.services.payments import FirstPayment

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

OrderErrorCode = error_codes(
    "OrderErrorCode",
    "AMOUNT_INVALID",
    "AMOUNT_TOO_LARGE",
    "VOUCHER_INVALID",
    "VOUCHER_SHARE_EXCEEDED",
    "VOUCHER_INSUFFICIENT",
    "MERCHANT_UNAVAILABLE",
    "SELF_PURCHASE",
    "IDEMPOTENCY_KEY_REUSED",
    "CHANNEL_UNAVAILABLE",
    "CHANNEL_ERROR",
    "CHANNEL_TIMEOUT",
    "CHANNEL_BAD_RESPONSE",
    "CHANNEL_NOT_CONFIGURED",
    "AMOUNT_MISMATCH",
    "INVALID_STATE",
    "DUPLICATE_PAYMENT",
    "REFUND_WINDOW_CLOSED",
    "REFUND_WINDOW_OPEN",
    "REFUND_EXCEEDS_PAID",
    "ORDER_EXPIRED",
)

PAID_STATES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
UNPAID_STATES = (OrderStatus.UNCONFIRMED, OrderStatus.CREATED, OrderStatus.PAYING)
VOUCHER_CHANNEL = "voucher"  # an order paid wholly with vouchers never meets a channel


def today_shanghai(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


# ---------------------------------------------------------------- create


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


def _idempotency_key(raw: str | None) -> str:
    key = (raw or "").strip()
    if not key or len(key) > 64:
        raise DomainError("INVALID", "idempotencyKey is required (1-64 chars)", "idempotencyKey")
    return key


def _refuse_unless_open_to(facts: dict[str, Any], consumer_id: int) -> None:
    """Orders are taken by open stores, never from their own people."""
    if facts["status"] != MerchantStatus.APPROVED:
        raise DomainError(
            OrderErrorCode.MERCHANT_UNAVAILABLE, "merchant is not open for orders", "merchantId"
        )
    if facts["owner_id"] == consumer_id or facts["staff"]:
        # Buying from your own store would mint points from a round trip of your own money.
        raise DomainError(
            OrderErrorCode.SELF_PURCHASE, "you cannot order at your own store", "merchantId"
        )


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


def _vouchers_short() -> DomainError:
    return DomainError(
        OrderErrorCode.VOUCHER_INSUFFICIENT, "not enough vouchers in the wallet", "voucherFen"
    )


# The order's key, the merchant, whether the buyer staffs it, the buyer's openid and
# the merchant's payment channels (routing's table, one row each): everything
# `create_order` reads before it writes, in one round trip.
@cache
def _order_facts_sql() -> str:
    from app.services.routing import CHANNEL_TABLE

    return (
        "SELECT m.status, m.owner_id, m.discount_bps, "
        "EXISTS (SELECT 1 FROM merchant_staff s WHERE s.merchant_id = m.id AND s.user_id = ?) "
        "AS staff, "
        "(SELECT o.id FROM orders o WHERE o.consumer_id = ? AND o.idempotency_key = ?) "
        "AS existing, (SELECT u.wechat_openid FROM users u WHERE u.id = ?) AS openid, "
        "c.kind, c.channel, c.flag, c.text, c.priority, c.id "
        "FROM (SELECT 1 AS one) AS x LEFT JOIN merchants m ON m.id = ? "
        f"LEFT JOIN ({CHANNEL_TABLE}) AS c ON 1 = 1 ORDER BY c.kind, c.priority, c.id"
    )


# `order.created`'s subject and payload, as SQL over the new row `o` (`_created_payload`
# in Python: the same keys)
_CREATED_SUBJECT = "'order:' || o.id"
_CREATED_PAYLOAD = (
    "jsonb_build_object('order_id', o.id, 'consumer_id', o.consumer_id, 'merchant_id', "
    "o.merchant_id, 'amount_fen', o.amount_fen, 'voucher_fen', o.voucher_fen, 'cash_fen', "
    "o.cash_fen, 'channel', o.channel, 'status', o.status)"
)


def _created_payload(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "consumer_id": order.consumer_id,
        "merchant_id": order.merchant_id,
        "amount_fen": order.amount_fen,
        "voucher_fen": order.voucher_fen,
        "cash_fen": order.cash_fen,
        "channel": order.channel,
        "status": str(order.status),  # a counter order's is `unconfirmed`
    }


async def _insert_order(
    row: dict[str, Any], conn, first: FirstPayment | None, created: outbox.Event
) -> tuple[Order, FirstPayment | None]:
    """A new order row (hand-written: this runs for every order) and its `created`
    event, in one statement; the row of its first payment goes in it too (`first` then
    names it)."""
    from app.services import payments as service

    values = {"status": OrderStatus.CREATED.value, "origin": OrderOrigin.APP.value, **row,
              "refunded_fen": 0, "created_at": datetime.now(UTC)}  # fmt: skip
    insert = f"INSERT INTO orders ({', '.join(values)}) VALUES ({sql.marks(len(values))})"
    event_sql, event_values = outbox.derived_insert(
        created, _CREATED_SUBJECT, _CREATED_PAYLOAD, "o"
    )
    if first is None:
        found = await sql.fetch(
            conn,
            f"WITH o AS ({insert} RETURNING *), ev AS ({event_sql}) SELECT o.* FROM o",
            [*values.values(), *event_values],
        )
        return from_row(Order, found[0]), first
    found = await sql.fetch(
        conn,
        f"WITH o AS ({insert} RETURNING *), {service.PAYMENT_OF_NEW_ORDER}, "
        f"ev AS ({event_sql}) "
        "SELECT o.*, p.id AS _payment, p.out_trade_no AS _trade_no FROM o, p",
        [
            *values.values(),
            *service.payment_of_new_order(
                row["cash_fen"], row["discount_fen"], first, row["channel"]
            ),
            *event_values,
        ],
    )
    paid_with = replace(first, payment_id=found[0]["_payment"], trade_no=found[0]["_trade_no"])
    return from_row(Order, found[0]), paid_with


async def _lock_order(order_id: int, conn) -> Order | None:
    """The order row, locked to the end of the transaction (written by hand: the ORM's
    query building was a visible share of every payment)."""
    rows = await sql.fetch(conn, "SELECT * FROM orders WHERE id = ? FOR UPDATE", [order_id])
    return from_row(Order, rows[0]) if rows else None


async def _order_facts(
    consumer_id: int, merchant_id: int, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The facts (first row) and the merchant's channel table rows."""
    rows = await sql.fetch(
        connections.get("default"),
        _order_facts_sql(),
        [consumer_id, consumer_id, key, consumer_id, merchant_id, merchant_id],
    )
    return rows[0], [r for r in rows if r["kind"] is not None]


async def _start_payment(order: Order, first: FirstPayment) -> None:
    """The first payment at the channel; the order moves to PAYING with its parameters
    in the statement that records them (or is reloaded, paid by a fast notification)."""
    from app.services.routing import start_payment

    await start_payment(order, first=first)


def _check_amounts(amount_fen: int, voucher_fen: int, policy: Policy) -> None:
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError(OrderErrorCode.AMOUNT_INVALID, "amount must be above zero", "amountFen")
    if amount_fen > policy.order.max_amount_fen:
        raise DomainError(
            OrderErrorCode.AMOUNT_TOO_LARGE,
            f"amount above the maximum of {policy.order.max_amount_fen} fen",
            "amountFen",
        )
    if not isinstance(voucher_fen, int) or voucher_fen < 0:
        raise DomainError(
            OrderErrorCode.VOUCHER_INVALID, "voucherFen cannot be negative", "voucherFen"
        )
    if voucher_fen > amount_fen:
        raise DomainError(
            OrderErrorCode.VOUCHER_INVALID, "voucherFen exceeds the amount", "voucherFen"
        )
    if voucher_fen * 10_000 > amount_fen * policy.order.max_voucher_share_bps:
        raise DomainError(
            OrderErrorCode.VOUCHER_SHARE_EXCEEDED,
            f"vouchers may pay at most {policy.order.max_voucher_share_bps / 100:g}% of an order",
            "voucherFen",
        )


def _same_request(order: Order, merchant_id: int, amount_fen: int, voucher_fen: int) -> Order:
    if (order.merchant_id, order.amount_fen, order.voucher_fen) != (
        merchant_id,
        amount_fen,
        voucher_fen,
    ):
        raise DomainError(
            OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different order",
            "idempotencyKey",
        )
    return order


# ---------------------------------------------------------------- at the counter


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


def _counter_key(opened_by: str, idempotency_key: str) -> str:
    return f"{opened_by}:{_idempotency_key(idempotency_key)}"


async def counter_order_by_key(opened_by: str, idempotency_key: str) -> Order | None:
    """The counter order this opener made under this key, if any."""
    return await Order.get_or_none(counter_key=_counter_key(opened_by, idempotency_key))


def _same_counter_request(order: Order, consumer_id: int, merchant_id: int, amount: int) -> Order:
    if (order.consumer_id, order.merchant_id, order.amount_fen) != (
        consumer_id,
        merchant_id,
        amount,
    ):
        raise DomainError(
            OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different order",
            "idempotencyKey",
        )
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


def counter_order_expired(order: Order, now: datetime | None = None) -> bool:
    """An unconfirmed counter order past `COUNTER_ORDER_TTL_S` since it was opened."""
    ttl = timedelta(seconds=get_settings().counter_order_ttl_s)
    return order.created_at + ttl <= (now or datetime.now(UTC))


def _counter_order_expired() -> DomainError:
    return DomainError(
        OrderErrorCode.ORDER_EXPIRED,
        "this counter order has expired; ask the counter to open a new one",
        "orderId",
    )


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


def paid_on(merchant_id: int, day: date) -> QuerySet[Order]:
    """A store's orders paid on one day (Asia/Shanghai), refunded since or not."""
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return Order.filter(
        merchant_id=merchant_id,
        status__in=PAID_STATES,
        paid_at__gte=start,
        paid_at__lt=start + timedelta(days=1),
    )


# ---------------------------------------------------------------- pay


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


def _unpaid(order_id: int) -> Guard:
    """The order's row while it is unpaid: the guard of its payment's statement."""
    return Guard(
        "orders", order_id, (In("status", (OrderStatus.CREATED.value, OrderStatus.PAYING.value)),)
    )


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


@dataclass(frozen=True)
class _PaidMerchant:
    """What a payment needs of its merchant: lot recruiter, map position."""

    recruiter_user_id: int | None
    lat: float
    lng: float


# The order row, with who stands around its payment (two inviter levels, the bound
# store, the agents in office for the merchant's province, city and district) and its
# merchant, in one round trip: one row per agent found (at least one). The joined
# columns carry a `_` prefix, apart from the order's own.
_PAYING = (
    "SELECT o.*, u.inviter_id AS _i1, u2.inviter_id AS _i2, "
    "(SELECT b.merchant_id FROM consumer_bindings b WHERE b.consumer_id = o.consumer_id) "
    "AS _bound, m.recruiter_user_id AS _recruiter, m.lat AS _lat, m.lng AS _lng, "
    "a.id AS _agent, a.level AS _level "
    "FROM orders o JOIN users u ON u.id = o.consumer_id "
    "LEFT JOIN users u2 ON u2.id = u.inviter_id "
    "JOIN merchants m ON m.id = o.merchant_id "
    "LEFT JOIN agents a ON a.ended_at IS NULL AND ((a.level = 'province' "
    "AND a.region_code = substr(m.region_code, 1, 2) || '0000') "
    "OR (a.level = 'city' AND a.region_code = substr(m.region_code, 1, 4) || '00') "
    "OR (a.level = 'district' AND a.region_code = m.region_code)) "
    "WHERE o.id = ?"
)


async def _paying(
    order_id: int, conn, *, lock: bool
) -> tuple[Order | None, Surroundings | None, _PaidMerchant | None]:
    """`_PAYING`, its order row locked to the end of the transaction when `lock`."""
    rows = await sql.fetch(conn, _PAYING + (" FOR UPDATE OF o" if lock else ""), [order_id])
    if not rows:
        return None, None, None
    row = rows[0]
    around = Surroundings(
        inviters=tuple(int(i) for i in (row["_i1"], row["_i2"]) if i is not None),
        bound_merchant_id=row["_bound"],
        agents=tuple(sorted((r["_level"], r["_agent"]) for r in rows if r["_agent"] is not None)),
    )
    merchant = _PaidMerchant(row["_recruiter"], float(row["_lat"]), float(row["_lng"]))
    return from_row(Order, row), around, merchant


def _plan(order: Order, policy: Policy, around: Surroundings) -> SettlementPlan:
    return plan_settlement(
        amount_fen=order.amount_fen,
        voucher_fen=order.voucher_fen,
        discount_fen_=order.discount_fen,
        policy=policy,
        around=around,
    )


def _party_target(p: Party) -> tuple[ledger.AccountName, ledger.AccountName | None]:
    """Where a party's CNY share goes, and the VOUCHER account it is paid into (if any)."""
    if p.kind == "platform":
        return acct.PLATFORM_REVENUE, None
    if p.kind == "agent":
        return acct.agent_payable(int(p.id)), None
    if p.kind == "pool":
        return acct.pool_available(str(p.id)), None
    if p.kind == "inviter":
        return acct.VOUCHER_RESERVE, acct.consumer_voucher(int(p.id))
    if p.kind == "bound_merchant":
        return acct.VOUCHER_RESERVE, acct.merchant_voucher(int(p.id))
    raise ValueError(f"unknown party {p.kind}")


def _payment_postings(order: Order, plan: SettlementPlan) -> list[Post]:
    """Cash in, vouchers retired, D split into pending shares, points and coins issued."""
    uid, mid = order.consumer_id, order.merchant_id
    transit = acct.ORDER_TRANSIT
    out = [
        Post(acct.channel_clearing(order.channel), transit, plan.cash_fen),
        Post(acct.VOUCHER_RESERVE, transit, plan.voucher_fen),
        Post(acct.consumer_voucher_held(uid), acct.issuer(Asset.VOUCHER), plan.voucher_fen),
        Post(transit, acct.merchant_payable(mid), plan.merchant_fen),
    ]
    for p in plan.parties:
        cny, voucher = _party_target(p)
        out.append(Post(transit, acct.pending(cny), p.fen))
        if voucher is not None:
            out.append(Post(acct.issuer(Asset.VOUCHER), acct.pending(voucher), p.fen))
    out += [
        Post(acct.issuer(Asset.POINTS), acct.consumer_points(uid, "pending"), plan.consumer_points),
        Post(acct.issuer(Asset.POINTS), acct.merchant_points(mid, "pending"), plan.merchant_points),
        Post(acct.issuer(Asset.GOLD_COINS), acct.consumer_gold_coins(uid), plan.gold_coins),
    ]
    return [p for p in out if p.amount]


# ---------------------------------------------------------------- close


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


async def _close_locked(order: Order, conn, reason: str) -> outbox.Event:
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


# ---------------------------------------------------------------- refund


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


def _delta(total: int, before: int, after: int, whole: int) -> int:
    return share_of(total, after, whole) - share_of(total, before, whole)


async def _refund_postings(
    order: Order, plan: SettlementPlan, before: int, after: int, conn
) -> list[Post]:
    uid, mid = order.consumer_id, order.merchant_id
    a, transit = plan.amount_fen, acct.ORDER_TRANSIT
    # The consumer gets exactly the amount refunded: cash in proportion (the cumulative
    # share_of, as the channel refund in app/services/refunds.py), the rest in vouchers.
    cash_back = _delta(plan.cash_fen, before, after, a)
    vouchers_back = (after - before) - cash_back
    out = [
        Post(transit, acct.channel_clearing(order.channel), cash_back),
        Post(transit, acct.VOUCHER_RESERVE, vouchers_back),
        Post(acct.issuer(Asset.VOUCHER), acct.consumer_voucher(uid), vouchers_back),
    ]
    # The merchant and every party give back their share of it, apportioned so that the
    # shares add up to it exactly and no step takes back more than a share has left.
    shares_before, shares_after = plan.refunded_shares(before), plan.refunded_shares(after)
    merchant_back = shares_after[0] - shares_before[0]
    for p, was, now in zip(plan.parties, shares_before[1:], shares_after[1:], strict=True):
        back = now - was
        cny, voucher = _party_target(p)
        out.append(Post(acct.pending(cny), transit, back))
        if voucher is not None:
            out.append(Post(acct.pending(voucher), acct.issuer(Asset.VOUCHER), back))
    out.append(Post(acct.merchant_payable(mid), transit, merchant_back))
    for holder, pts in (
        (acct.consumer_points(uid, "pending"), plan.consumer_points),
        (acct.merchant_points(mid, "pending"), plan.merchant_points),
    ):
        out.append(Post(holder, acct.issuer(Asset.POINTS), _delta(pts, before, after, a)))
    coins = _delta(plan.gold_coins, before, after, a)
    if coins:
        # Coins were credited at once and may be spent: take back what is there; the
        # rest is the platform's loss, never a negative user balance (SPEC §11).
        have = await _balance(acct.consumer_gold_coins(uid), conn)
        out.append(
            Post(acct.consumer_gold_coins(uid), acct.issuer(Asset.GOLD_COINS), min(coins, have))
        )
    return [p for p in out if p.amount]


async def _balance(name: ledger.AccountName, conn) -> int:
    row = await Account.filter(name=name.name, asset=name.asset).using_db(conn).values("balance")
    return int(row[0]["balance"]) if row else 0


async def _shrink_lots(order: Order, plan: SettlementPlan, refunded: int, conn) -> None:
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


# ---------------------------------------------------------------- settle


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
