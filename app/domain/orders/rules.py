"""What an order may be: its states, error codes, amount and key checks, the settlement
plan it is paid under (no I/O).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.domain.policy import Policy
from app.domain.settlement import SettlementPlan, Surroundings, plan_settlement, share_of
from app.infra.config import get_settings
from app.infra.errors import DomainError, error_codes
from app.models.merchants import MerchantStatus
from app.models.orders import Order, OrderStatus

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


def _vouchers_short() -> DomainError:
    return DomainError(
        OrderErrorCode.VOUCHER_INSUFFICIENT, "not enough vouchers in the wallet", "voucherFen"
    )


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


def _counter_key(opened_by: str, idempotency_key: str) -> str:
    return f"{opened_by}:{_idempotency_key(idempotency_key)}"


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


def _plan(order: Order, policy: Policy, around: Surroundings) -> SettlementPlan:
    return plan_settlement(
        amount_fen=order.amount_fen,
        voucher_fen=order.voucher_fen,
        discount_fen_=order.discount_fen,
        policy=policy,
        around=around,
    )


def _delta(total: int, before: int, after: int, whole: int) -> int:
    return share_of(total, after, whole) - share_of(total, before, whole)
