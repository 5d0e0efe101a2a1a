"""Types of checkout at the counter (SPEC §13): member codes, scans, orders as the store
sees them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import InputID
from app.api.graphql.orders.types import (
    CreateOrderSuccess,
    OrderError,
    OrderOriginEnum,
    OrderStatusEnum,
)
from app.domain import counter
from app.domain.counter import CounterErrorCode
from app.models.orders import Order
from app.models.users import User

CounterError = error_type("CounterError", CounterErrorCode)


@strawberry.type(
    description=(
        "A member code to show as a QR code: scanned once, valid until `expiresAt`; ask "
        "for a new one before then (each call makes a new one)."
    )
)
class MemberCode:
    code: str
    expires_at: datetime
    valid_seconds: int


@strawberry.type(description="A consumer as the counter sees them: enough to greet them by.")
class CounterConsumer:
    name: str = strawberry.field(description="The nickname's first character, then stars.")
    phone_tail: str | None = strawberry.field(description="The phone's last four digits.")

    @classmethod
    def of(cls, user: User | None) -> CounterConsumer:
        if user is None:
            return cls(name="", phone_tail=None)
        return cls(
            name=counter.masked_name(user.nickname), phone_tail=counter.phone_tail(user.phone)
        )


@strawberry.type
class MemberCodeScanned:
    scan_id: str = strawberry.field(
        description="Opens orders for this consumer at this store until `expiresAt`."
    )
    expires_at: datetime
    consumer: CounterConsumer
    bound_here: bool = strawberry.field(description="The consumer is bound to this store.")
    newly_bound: bool = strawberry.field(description="... and became so by this scan.")


@strawberry.type(name="PosOrder", description="An order as its store sees it at the counter.")
class PosOrderType:
    id: strawberry.ID = strawberry.field(description="The order's ID (an `Order` ID).")
    origin: OrderOriginEnum  # type: ignore[valid-type]
    status: OrderStatusEnum  # type: ignore[valid-type]
    amount_fen: int
    voucher_fen: int
    cash_fen: int
    discount_fen: int
    channel: str = strawberry.field(description="Empty until the consumer confirms.")
    created_at: datetime
    paid_at: datetime | None
    consumer: CounterConsumer

    @classmethod
    def from_model(cls, o: Order, consumer: User | None) -> PosOrderType:
        return cls(
            id=strawberry.ID(str(relay.GlobalID("Order", str(o.id)))),
            origin=o.origin,
            status=o.status,
            amount_fen=o.amount_fen,
            voucher_fen=o.voucher_fen,
            cash_fen=o.cash_fen,
            discount_fen=o.discount_fen,
            channel=o.channel,
            created_at=o.created_at,
            paid_at=o.paid_at,
            consumer=CounterConsumer.of(consumer),
        )

    @classmethod
    async def many(cls, rows: Sequence[Order]) -> list[PosOrderType]:
        """The rows with their consumers, read in one query."""
        users = {u.id: u for u in await User.filter(id__in={o.consumer_id for o in rows})}
        return [cls.from_model(o, users.get(o.consumer_id)) for o in rows]


@strawberry.input
class CreateCounterOrderInput:
    scan_id: str = strawberry.field(description="From `scanMemberCode`.")
    amount_fen: int
    idempotency_key: str = strawberry.field(
        description="The same key from the same device (or person) never opens two orders."
    )
    merchant_id: InputID | None = strawberry.field(
        default=None, description="The store, when a person (not a POS device) opens it."
    )


@strawberry.type
class CounterOrderOpened:
    order: PosOrderType


ScanMemberCodeResult = Annotated[
    MemberCodeScanned | CounterError,  # type: ignore[valid-type]
    strawberry.union("ScanMemberCodeResult"),
]
CreateCounterOrderResult = Annotated[
    CounterOrderOpened | CounterError,  # type: ignore[valid-type]
    strawberry.union("CreateCounterOrderResult"),
]
ConfirmCounterOrderResult = Annotated[
    CreateOrderSuccess | OrderError,  # type: ignore[valid-type]
    strawberry.union("ConfirmCounterOrderResult"),
]
