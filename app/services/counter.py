"""Checkout at the counter (SPEC §13): the POS scans the consumer's member code, opens an
order for the amount the cashier enters, the consumer confirms it in the app (vouchers,
channel) and pays; from there it is an ordinary order (§3).

Who is asking is the API's business: these take the store the caller serves and the
caller's principal key (`device:3`, `user:9`), checked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain import counter, member_codes, merchants, orders
from app.domain.counter import CounterErrorCode, Scan
from app.infra.errors import DomainError, NotFound
from app.models.merchants import Merchant, MerchantStaff, MerchantStatus
from app.models.orders import Order, OrderStatus
from app.models.users import User
from app.services.payments import FirstPayment
from app.services.routing import Route, route, start_payment


@dataclass(frozen=True, slots=True)
class ScanResult:
    scan: Scan
    consumer: User
    bound_here: bool  # the consumer is this store's bound customer (扫码锁客)
    newly_bound: bool  # and became so by this scan


async def scan_member_code(merchant_id: int, scanned_by: str, code: str) -> ScanResult:
    """Verify a member code scanned at this store: forged, expired and replayed codes and
    a store that is not open are refused before anything changes; then the code is used
    up, the consumer bound to the store if they were bound nowhere (first bind wins), and
    the scan kept for the counter to open orders with."""
    scanned = member_codes.read(code)
    merchant = await Merchant.get_or_none(id=merchant_id)
    if merchant is None or merchant.status != MerchantStatus.APPROVED:
        raise DomainError(
            CounterErrorCode.MERCHANT_NOT_OPEN, "this store is not open for business", "code"
        )
    consumer = await User.get_or_none(id=scanned.consumer_id)
    if consumer is None or not consumer.is_active:
        raise DomainError(
            CounterErrorCode.MEMBER_CODE_INVALID, "this member cannot be served", "code"
        )
    if merchant.owner_id == consumer.id or await MerchantStaff.exists(
        merchant_id=merchant.id, user_id=consumer.id
    ):
        raise DomainError(
            CounterErrorCode.SELF_PURCHASE, "you cannot order at your own store", "code"
        )
    await member_codes.claim(scanned)
    binding, made = await merchants.bind_consumer(consumer.id, merchant, "code")
    scan = await counter.open_scan(merchant.id, consumer.id, scanned_by)
    return ScanResult(scan, consumer, binding.merchant_id == merchant.id, made)


async def create_counter_order(
    merchant_id: int, opened_by: str, scan_id: str, amount_fen: int, idempotency_key: str
) -> Order:
    """An unconfirmed order at this store for the scanned consumer. The same opener and
    key answer the same order, even once the scan has expired."""
    scan = await counter.find_scan(scan_id, merchant_id)
    if scan is not None:
        consumer_id = scan.consumer_id
    else:
        done = await orders.counter_order_by_key(opened_by, idempotency_key)
        if done is None or done.merchant_id != merchant_id:
            raise counter.scan_expired()
        consumer_id = done.consumer_id
    order = await orders.open_counter_order(
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        amount_fen=amount_fen,
        opened_by=opened_by,
        idempotency_key=idempotency_key,
    )
    return order


async def confirm_counter_order(
    order_id: int, consumer_id: int, voucher_fen: int, channel: str | None
) -> tuple[Order, dict[str, Any] | None]:
    """The consumer confirms a counter order of theirs: the order and what the client
    hands to the payment SDK (None when nothing is left to pay). A repeat answers the
    same; another consumer's order is not found."""
    order = await Order.get_or_none(id=order_id)
    if order is None or order.consumer_id != consumer_id:
        raise NotFound("order", "orderId")
    way: Route | None = None
    if (
        order.status == OrderStatus.UNCONFIRMED
        and isinstance(voucher_fen, int)
        and 0 <= voucher_fen < order.amount_fen
    ):
        way = await route(order.merchant_id, channel)
    order, confirmed = await orders.confirm_counter_order(
        order_id,
        consumer_id,
        voucher_fen=voucher_fen,
        channel=way.channel if way else orders.VOUCHER_CHANNEL,
    )
    if not confirmed:
        if order.status == OrderStatus.CREATED and order.cash_fen:
            # confirmed, but the channel did not take the payment then: ask again
            return order, await start_payment(order)
        return order, order.pay_params
    if not order.cash_fen:
        paid = await orders.mark_paid(
            order.id,
            channel=orders.VOUCHER_CHANNEL,
            channel_txn_id=f"voucher-{order.id}",
            amount_fen=0,
        )
        return paid, None
    assert way is not None  # cash to pay: routed above
    consumer = await User.get(id=consumer_id)
    first = FirstPayment(way.provider_merchant_id, consumer.wechat_openid, way.failing)
    await start_payment(order, first=first)
    return order, order.pay_params
