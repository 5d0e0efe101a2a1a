"""Order, point lot, wallet and ledger types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import InputID
from app.api.graphql.core.loaders import merchant_loader
from app.api.graphql.core.scalars import Int64
from app.api.graphql.core.visibility import merchant_visible
from app.api.graphql.merchants.types import MerchantType
from app.api.graphql.orders.access import can_read_lot, can_read_order
from app.api.graphql.payments.pay_params import PayParams, pay_params_of
from app.domain.orders import OrderErrorCode
from app.models.ledger import Asset, LedgerEntry
from app.models.orders import HolderKind, LotStatus, Order, OrderOrigin, OrderStatus, PointLot

OrderStatusEnum = strawberry.enum(OrderStatus, name="OrderStatus")
OrderOriginEnum = strawberry.enum(OrderOrigin, name="OrderOrigin")
LotStatusEnum = strawberry.enum(LotStatus, name="LotStatus")
HolderKindEnum = strawberry.enum(HolderKind, name="HolderKind")
AssetEnum = strawberry.enum(Asset, name="Asset")
OrderError = error_type("OrderError", OrderErrorCode)


@strawberry.type(name="Order")
class OrderType(relay.Node):
    id: relay.NodeID[int]
    amount_fen: int
    voucher_fen: int
    cash_fen: int
    discount_bps: int
    discount_fen: int
    channel: str
    status: OrderStatusEnum  # type: ignore[valid-type]
    origin: OrderOriginEnum = strawberry.field(  # type: ignore[valid-type]
        description="APP: you opened it; COUNTER: a store opened it at its counter for you."
    )
    refunded_fen: int
    created_at: datetime
    paid_at: datetime | None
    settle_on: date | None = strawberry.field(
        description="The day the refund window closes and the points become active."
    )
    _merchant_id: strawberry.Private[int]
    _consumer_id: strawberry.Private[int]

    @strawberry.field
    async def merchant(self, info: Info) -> MerchantType | None:
        m = await merchant_loader(info).load(self._merchant_id)
        if m is None or not merchant_visible(info.context.principal, m):
            return None
        return MerchantType.from_model(m)

    @classmethod
    def from_model(cls, o: Order) -> OrderType:
        return cls(
            id=o.id,
            amount_fen=o.amount_fen,
            voucher_fen=o.voucher_fen,
            cash_fen=o.cash_fen,
            discount_bps=o.discount_bps,
            discount_fen=o.discount_fen,
            channel=o.channel,
            status=o.status,
            origin=o.origin,
            refunded_fen=o.refunded_fen,
            created_at=o.created_at,
            paid_at=o.paid_at,
            settle_on=o.settle_on,
            _merchant_id=o.merchant_id,
            _consumer_id=o.consumer_id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        rows = {o.id: o for o in await Order.filter(id__in=[int(i) for i in node_ids])}
        out = []
        for i in node_ids:
            o = rows.get(int(i))
            out.append(cls.from_model(o) if o and await can_read_order(info, o) else None)
        return out


@strawberry.type(name="PointLot")
class PointLotType(relay.Node):
    id: relay.NodeID[int]
    holder_kind: HolderKindEnum  # type: ignore[valid-type]
    pool: str
    points: int = strawberry.field(description="Centi-points (1 point = 100).")
    status: LotStatusEnum  # type: ignore[valid-type]
    activate_on: date
    released_units: int = strawberry.field(description="Released so far, in fen of vouchers.")
    release_count: int
    first_release_no: int | None
    order_id: strawberry.ID | None

    @classmethod
    def from_model(cls, lot: PointLot) -> PointLotType:
        return cls(
            id=lot.id,
            holder_kind=lot.holder_kind,
            pool=lot.pool,
            points=lot.points,
            status=lot.status,
            activate_on=lot.activate_on,
            released_units=lot.released_units,
            release_count=lot.release_count,
            first_release_no=lot.first_release_no,
            order_id=strawberry.ID(str(relay.GlobalID("Order", str(lot.order_id))))
            if lot.order_id
            else None,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        rows = {x.id: x for x in await PointLot.filter(id__in=[int(i) for i in node_ids])}
        out = []
        for i in node_ids:
            lot = rows.get(int(i))
            out.append(cls.from_model(lot) if lot and await can_read_lot(info, lot) else None)
        return out


@strawberry.type
class Wallet:
    """What a holder has, in integer units: fen for vouchers, centi for the rest."""

    vouchers_fen: int
    vouchers_held_fen: int = strawberry.field(description="Set aside for unpaid orders.")
    vouchers_pending_fen: int = strawberry.field(description="Rewards inside a refund window.")
    shopping_points: int
    gold_coins: int
    points_pending: int
    points_active: int


@strawberry.type(name="Posting")
class PostingType:
    source: str
    destination: str
    asset: AssetEnum  # type: ignore[valid-type]
    amount: Int64


@strawberry.type(name="LedgerEntry")
class LedgerEntryType:
    id: strawberry.ID
    kind: str
    ref: str
    seq: int | None
    hash: str
    prev_hash: str
    created_at: datetime
    postings: list[PostingType]

    @classmethod
    def from_model(cls, e: LedgerEntry, postings: list[PostingType]) -> LedgerEntryType:
        return cls(
            id=strawberry.ID(str(e.id)),
            kind=e.kind,
            ref=e.ref,
            seq=e.seq,
            hash=e.hash,
            prev_hash=e.prev_hash,
            created_at=e.created_at,
            postings=postings,
        )


@strawberry.type(name="Account")
class AccountType:
    name: str
    asset: AssetEnum  # type: ignore[valid-type]
    balance: Int64
    allow_negative: bool


@strawberry.input
class CreateOrderInput:
    merchant_id: InputID
    amount_fen: int
    idempotency_key: str = strawberry.field(description="The same key never makes two orders.")
    voucher_fen: int = 0
    channel: str | None = strawberry.field(
        default=None, description="Preferred channel; the merchant's first live one otherwise."
    )


@strawberry.type
class CreateOrderSuccess:
    order: OrderType
    pay_params: JSON | None = strawberry.field(
        description="What the client hands to the payment SDK (null when nothing is due).",
        deprecation_reason="Use `payment`: the same, typed per channel.",
    )
    payment: PayParams | None = strawberry.field(
        description="What the client hands to its payment SDK (null when nothing is due)."
    )

    @classmethod
    def from_model(cls, order: Order, pay_params: dict[str, Any] | None) -> CreateOrderSuccess:
        return cls(
            order=OrderType.from_model(order),
            pay_params=pay_params,  # type: ignore[arg-type]
            payment=pay_params_of(order.channel, pay_params),
        )


@strawberry.type
class RefundOrderSuccess:
    order: OrderType
    refund_id: strawberry.ID
    amount_fen: int


@strawberry.type(description="An admin dispute reversal after the refund window (SPEC §11).")
class ReverseOrderSuccess:
    order: OrderType
    lots_cancelled: int = strawberry.field(description="Lots that were still releasing.")
    vouchers_clawed_back_fen: Int64 = strawberry.field(
        description="Released vouchers taken back (never more than a holder still had)."
    )
    shopping_points_clawed_back: Int64
    platform_loss_fen: Int64 = strawberry.field(
        description="What had been spent already: paid back to the pools by the platform."
    )


CreateOrderResult = Annotated[
    CreateOrderSuccess | OrderError,  # type: ignore[valid-type]
    strawberry.union("CreateOrderResult"),
]
ReverseOrderResult = Annotated[
    ReverseOrderSuccess | OrderError,  # type: ignore[valid-type]
    strawberry.union("ReverseOrderResult"),
]
RefundOrderResult = Annotated[
    RefundOrderSuccess | OrderError,  # type: ignore[valid-type]
    strawberry.union("RefundOrderResult"),
]
