"""Orders, end to end (SPEC §3, §5): create, pay exactly once, refund, settle.

Money moves only through the ledger (`app.domain.ledger`), inside the same transaction
or statement as the order's state change. Everything a client or a provider can repeat
is idempotent: `createOrder` by (consumer, idempotency key), payment by order and
channel txn id, refunds by refund key, settlement by order.

By level: `rules` (states, errors, checks: no I/O), `postings` (what an order moves in
the ledger), `repository` (its hand-written SQL), then the steps of its life:
`create`, `payment`, `refunds`, `settlement`. An app order is opened by the checkout
(`app.services.checkout.create_order`), which routes it and starts its first payment
between `prepare_order` and `insert_order`.
"""

from app.domain.orders.create import (
    Inserted,
    NewOrder,
    confirm_counter_order,
    insert_order,
    open_counter_order,
    prepare_order,
)
from app.domain.orders.payment import mark_paid
from app.domain.orders.refunds import close_order, expire_counter_orders, refund_order
from app.domain.orders.repository import Along, _lock_order, counter_order_by_key, paid_on
from app.domain.orders.rules import (
    PAID_STATES,
    SHANGHAI,
    UNPAID_STATES,
    VOUCHER_CHANNEL,
    OrderErrorCode,
    counter_order_expired,
    today_shanghai,
)
from app.domain.orders.settlement import settle_due, settle_order
from app.models.orders import Order  # importable from here, as before the split

__all__ = [
    "Along",
    "Inserted",
    "NewOrder",
    "PAID_STATES",
    "SHANGHAI",
    "UNPAID_STATES",
    "VOUCHER_CHANNEL",
    "Order",
    "OrderErrorCode",
    "_lock_order",
    "close_order",
    "confirm_counter_order",
    "counter_order_expired",
    "counter_order_by_key",
    "expire_counter_orders",
    "insert_order",
    "mark_paid",
    "open_counter_order",
    "paid_on",
    "prepare_order",
    "refund_order",
    "settle_due",
    "settle_order",
    "today_shanghai",
]
