"""Reads at the counter (SPEC §13): the consumer's member code and the counter orders
waiting for them; a store's counter order and its payments of the day."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import (
    IsConsumer,
    IsMerchantOrPosDevice,
    IsMerchantOrPosDeviceOrCounterPartner,
    partner_of,
    user_of,
)
from app.api.graphql.counter.caller import counter_store
from app.api.graphql.counter.types import MemberCode, PosOrderType
from app.api.graphql.orders.types import OrderType
from app.domain import member_codes, orders
from app.infra.config import get_settings
from app.models.orders import Order, OrderOrigin, OrderStatus
from app.models.users import User

# unconfirmed counter orders a consumer is shown at most (newest first)
TO_CONFIRM_MAX = 20


@strawberry.type
class CounterQuery:
    @strawberry.field(
        permission_classes=[IsConsumer],
        description=(
            "A fresh member code (会员码) for the store's POS to scan; single use, valid "
            "about a minute."
        ),
    )
    async def member_code(self, info: Info) -> MemberCode:
        made = member_codes.issue(user_of(info).user_id)
        return MemberCode(
            code=made.code,
            expires_at=made.expires_at,
            valid_seconds=get_settings().member_code_ttl_s,
        )

    @strawberry.field(
        permission_classes=[IsConsumer],
        description="Counter orders opened for you that wait for your confirmation.",
    )
    async def my_counter_orders_to_confirm(self, info: Info) -> list[OrderType]:
        rows = (
            await Order.filter(
                consumer_id=user_of(info).user_id,
                origin=OrderOrigin.COUNTER,
                status=OrderStatus.UNCONFIRMED,
            )
            .order_by("-id")
            .limit(TO_CONFIRM_MAX)
        )
        return [OrderType.from_model(o) for o in rows]

    @strawberry.field(
        permission_classes=[IsMerchantOrPosDeviceOrCounterPartner],
        description=(
            "An order of your store, as the counter sees it. Partner apps (scope "
            "write:counter_orders) see the counter orders they opened."
        ),
    )
    async def counter_order(
        self, info: Info, id: InputID, merchant_id: InputID | None = None
    ) -> PosOrderType | None:
        mid, by = await counter_store(info, merchant_id)
        o = await Order.get_or_none(id=decode_id(id, "Order", "id"), merchant_id=mid)
        if o is None:
            return None
        if partner_of(info) is not None and not (o.counter_key or "").startswith(f"{by}:"):
            return None
        return PosOrderType.from_model(o, await User.get_or_none(id=o.consumer_id))

    @strawberry.field(
        permission_classes=[IsMerchantOrPosDevice],
        description="Your store's orders paid today (Asia/Shanghai), newest first.",
    )
    async def pos_today_payments(
        self,
        info: Info,
        merchant_id: InputID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[PosOrderType]:
        mid, _ = await counter_store(info, merchant_id)
        qs = orders.paid_on(mid, orders.today_shanghai())
        return await paginate(qs, first, after, PosOrderType.many, batch=True)
