"""What every channel adapter speaks: one Protocol, plain data in and out.

Amounts are integer fen everywhere here; an adapter converts to its provider's
yuan strings at the edge (`app.adapters.payments.money`). Errors are `ChannelError`s carrying
a code from `PaymentErrorCode`, whether the failure counts against the channel's
health (`transient`), and a message that never contains a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from app.infra.errors import DomainError, error_codes

PaymentErrorCode = error_codes(
    "PaymentErrorCode",
    "CHANNEL_UNAVAILABLE",  # no live channel / the chosen one is down
    "CHANNEL_ERROR",  # the provider refused the request
    "CHANNEL_TIMEOUT",  # no answer in time: the outcome is unknown
    "CHANNEL_BAD_RESPONSE",  # the answer was not what the protocol says (or badly signed)
    "CHANNEL_NOT_CONFIGURED",
    "REFUND_EXCEEDS_PAYMENT",
    "PAYMENT_NOT_FOUND",
    "NOT_PAID",
    "AMOUNT_MISMATCH",
    "INVALID_STATE",
)


class ChannelError(DomainError):
    """A channel call failed. `transient` failures count towards automatic mark-down."""

    def __init__(
        self,
        code: StrEnum | str,
        message: str,
        *,
        transient: bool = False,
        provider_code: str = "",
        field: str | None = "channel",
    ) -> None:
        super().__init__(code, message, field)
        self.transient = transient
        self.provider_code = provider_code


class NotificationRejected(Exception):
    """A notification failed verification; `reason` is stored and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClientKind(StrEnum):
    MINIPROGRAM = "miniprogram"  # WeChat mini-program (JSAPI) / Alipay mini-program
    APP = "app"  # the native app
    WEB = "web"  # a page (the sandbox)


@dataclass(frozen=True)
class SplitPlan:
    """分账: the merchant gets `merchant_fen`, the platform `platform_fen` (its D, capped
    at the cash paid and at the channel's cap, `cap_bps` of the cash rounded down: never
    a fen above what the channel allows). The two add up to the cash amount."""

    merchant_fen: int
    platform_fen: int

    @classmethod
    def for_order(cls, cash_fen: int, discount_fen: int, cap_bps: int = 10_000) -> SplitPlan:
        platform = max(0, min(discount_fen, cash_fen, cash_fen * cap_bps // 10_000))
        return cls(merchant_fen=cash_fen - platform, platform_fen=platform)


@dataclass(frozen=True)
class PayRequest:
    out_trade_no: str
    amount_fen: int
    description: str
    notify_url: str
    split: SplitPlan
    provider_merchant_id: str = ""  # WeChat sub_mchid etc.
    client: ClientKind = ClientKind.MINIPROGRAM
    payer_openid: str | None = None  # WeChat JSAPI payer / Alipay buyer id
    expire_minutes: int = 30


@dataclass(frozen=True)
class PaymentStart:
    """What the client needs to pay (JSON-able) and the provider's own reference."""

    pay_params: dict[str, Any]
    provider_ref: str = ""


class TradeState(StrEnum):
    PAID = "paid"
    NOT_PAID = "not_paid"  # still open at the channel
    CLOSED = "closed"  # closed / never paid
    NOT_FOUND = "not_found"  # the channel has no such order
    REFUNDED = "refunded"  # paid, then (partly) refunded


@dataclass(frozen=True)
class TradeQuery:
    state: TradeState
    channel_txn_id: str | None = None
    amount_fen: int | None = None


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    channel_txn_id: str | None
    out_refund_no: str
    amount_fen: int
    total_fen: int
    notify_url: str
    provider_merchant_id: str = ""
    reason: str = ""
    # For channels that take the platform's split share back inside the refund call
    # (Alipay refund_royalty_parameters) rather than with a separate return order.
    split_return_fen: int = 0
    split_receiver: str = ""


@dataclass(frozen=True)
class RefundResult:
    status: str  # processing | success | failed
    channel_refund_id: str | None = None


@dataclass(frozen=True)
class SplitRequest:
    out_trade_no: str
    channel_txn_id: str
    out_split_no: str
    platform_fen: int
    merchant_fen: int
    provider_merchant_id: str = ""


@dataclass(frozen=True)
class SplitResult:
    status: str  # processing | finished | failed
    channel_split_id: str | None = None


@dataclass(frozen=True)
class SplitReturnRequest:
    out_trade_no: str
    channel_txn_id: str
    out_split_no: str
    channel_split_id: str | None
    out_return_no: str
    amount_fen: int
    provider_merchant_id: str = ""


@dataclass
class Notice:
    """A verified notification: a payment or a refund outcome."""

    kind: str  # payment | refund
    out_trade_no: str
    channel_txn_id: str | None = None
    amount_fen: int | None = None
    paid: bool = False  # payment: the trade succeeded
    out_refund_no: str | None = None
    refund_status: str | None = None  # success | failed | processing
    refund_fen: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NotifyReply:
    """The answer in the provider's expected form."""

    status_code: int
    body: bytes
    media_type: str = "text/plain"


class PaymentChannel(Protocol):
    name: str
    splits_after_payment: bool  # True: the split is a second call after success
    returns_split_with_refund: bool  # True: return_split is part of the refund call

    async def create_payment(self, req: PayRequest) -> PaymentStart: ...

    async def parse_notification(self, headers: dict[str, str], body: bytes) -> Notice: ...

    def reply(self, ok: bool, message: str = "") -> NotifyReply: ...

    async def query(self, out_trade_no: str, provider_merchant_id: str = "") -> TradeQuery: ...

    async def close(self, out_trade_no: str, provider_merchant_id: str = "") -> None: ...

    async def refund(self, req: RefundRequest) -> RefundResult: ...

    async def query_refund(
        self, out_refund_no: str, out_trade_no: str, provider_merchant_id: str = ""
    ) -> RefundResult: ...

    async def prepare_split(self, provider_merchant_id: str) -> None: ...

    async def split(self, req: SplitRequest) -> SplitResult: ...

    async def query_split(self, req: SplitRequest) -> SplitResult: ...

    async def return_split(self, req: SplitReturnRequest) -> None: ...
