"""The mall's types: items, redemptions, their inputs and results."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import InputID
from app.api.graphql.core.scalars import Int64
from app.api.graphql.orders.types import AssetEnum
from app.domain.mall import MallErrorCode
from app.domain.principals import UserPrincipal
from app.models.mall import MallItem, MallRedemption, RedemptionStatus

MallError = error_type("MallError", MallErrorCode)
RedemptionStatusEnum = strawberry.enum(RedemptionStatus, name="RedemptionStatus")


def _admin(info: Info) -> bool:
    p = info.context.principal
    return isinstance(p, UserPrincipal) and p.is_admin


@strawberry.type(name="MallItem")
class MallItemType(relay.Node):
    id: relay.NodeID[int]
    name: str
    description: str
    asset: AssetEnum  # type: ignore[valid-type]
    price: Int64 = strawberry.field(description="Per item, in centi-units of `asset`.")
    stock: int = strawberry.field(description="How many can still be redeemed.")
    active: bool

    @classmethod
    def from_model(cls, m: MallItem) -> MallItemType:
        return cls(
            id=m.id,
            name=m.name,
            description=m.description,
            asset=m.asset,
            price=m.price,
            stock=m.stock,
            active=m.active,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        rows = {m.id: m for m in await MallItem.filter(id__in=[int(i) for i in node_ids])}
        admin = _admin(info)
        out = []
        for i in node_ids:
            m = rows.get(int(i))
            # an item off sale is the admins' only
            out.append(cls.from_model(m) if m and (m.active or admin) else None)
        return out


@strawberry.type(name="MallRedemption")
class MallRedemptionType(relay.Node):
    id: relay.NodeID[int]
    item_id: relay.GlobalID
    quantity: int
    asset: AssetEnum  # type: ignore[valid-type]
    unit_price: Int64 = strawberry.field(description="The item's price when redeemed.")
    total: Int64 = strawberry.field(description="Held, then spent or given back.")
    status: RedemptionStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    closed_at: datetime | None = strawberry.field(description="When fulfilled or voided.")

    @classmethod
    def from_model(cls, r: MallRedemption) -> MallRedemptionType:
        return cls(
            id=r.id,
            item_id=relay.GlobalID("MallItem", str(r.item_id)),
            quantity=r.quantity,
            asset=r.asset,
            unit_price=r.unit_price,
            total=r.total,
            status=r.status,
            created_at=r.created_at,
            closed_at=r.closed_at,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        p = info.context.principal
        rows = {r.id: r for r in await MallRedemption.filter(id__in=[int(i) for i in node_ids])}
        out = []
        for i in node_ids:
            r = rows.get(int(i))
            mine = isinstance(p, UserPrincipal) and r is not None and r.consumer_id == p.user_id
            out.append(cls.from_model(r) if r and (mine or _admin(info)) else None)
        return out


@strawberry.input
class CreateMallItemInput:
    name: str
    description: str | None = None
    price: Int64 = strawberry.field(description="Per item, in centi-units of the mall's asset.")
    stock: int


@strawberry.input
class UpdateMallItemInput:
    item_id: InputID
    name: str | None = None
    description: str | None = None
    price: Int64 | None = None
    stock_change: int | None = strawberry.field(
        default=None, description="Added to the stock (negative to take away; never below 0)."
    )
    active: bool | None = None


MallItemResult = Annotated[
    MallItemType | MallError,  # type: ignore[valid-type]
    strawberry.union("MallItemResult"),
]
RedemptionResult = Annotated[
    MallRedemptionType | MallError,  # type: ignore[valid-type]
    strawberry.union("RedemptionResult"),
]
