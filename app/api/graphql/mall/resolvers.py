"""The mall's fields: the catalogue (public), redeeming (consumers), managing (admins)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, PageInfo, paginate
from app.api.graphql.core.permissions import IsAdmin, IsConsumer, user_of
from app.api.graphql.mall.types import (
    CreateMallItemInput,
    MallError,
    MallItemResult,
    MallItemType,
    MallRedemptionType,
    RedemptionResult,
    RedemptionStatusEnum,
    UpdateMallItemInput,
)
from app.domain import mall
from app.domain.audit import Actor
from app.domain.mall import MallErrorCode
from app.domain.policy import get_policy
from app.models.mall import RedemptionStatus
from app.services import mall as redeeming

on_error = handles_errors(MallError, MallErrorCode)


@strawberry.type
class MallQuery:
    @strawberry.field(
        description=(
            "The mall's items on sale, oldest first, priced in the platform's mall asset "
            "(gold coins or shopping points); empty where the platform has no mall."
        )
    )
    async def mall_items(
        self, first: int | None = 20, after: str | None = None
    ) -> Connection[MallItemType]:
        policy = get_policy()
        if policy.mall.asset is None:
            return Connection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None),
                              total_count=0)  # fmt: skip
        qs = mall.on_sale(mall.mall_asset(policy))
        return await paginate(qs, first, after, MallItemType.from_model, newest_first=False)

    @strawberry.field(permission_classes=[IsConsumer], description="My redemptions, newest first.")
    async def my_redemptions(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[MallRedemptionType]:
        qs = mall.redemptions(user_of(info).user_id, None)
        return await paginate(qs, first, after, MallRedemptionType.from_model)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Every consumer's redemptions, newest first (those awaiting: HELD).",
    )
    async def mall_redemptions(
        self,
        status: RedemptionStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[MallRedemptionType]:
        qs = mall.redemptions(None, RedemptionStatus(status) if status else None)
        return await paginate(qs, first, after, MallRedemptionType.from_model)


@strawberry.type
class MallMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Add an item to the mall, priced in the platform's mall asset.",
    )
    @on_error
    async def create_mall_item(self, info: Info, input: CreateMallItemInput) -> MallItemResult:
        item = await mall.create_item(
            get_policy(),
            name=input.name,
            description=input.description,
            price=input.price,
            stock=input.stock,
            actor=Actor.admin(user_of(info).user_id),
        )
        return MallItemType.from_model(item)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Change an item; its stock moves by `stockChange`.",
    )
    @on_error
    async def update_mall_item(self, info: Info, input: UpdateMallItemInput) -> MallItemResult:
        item = await mall.update_item(
            decode_id(input.item_id, "MallItem", "itemId"),
            name=input.name,
            description=input.description,
            price=input.price,
            stock_change=input.stock_change,
            active=input.active,
            actor=Actor.admin(user_of(info).user_id),
        )
        return MallItemType.from_model(item)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Take an item off sale (held redemptions of it stay to be fulfilled).",
    )
    @on_error
    async def deactivate_mall_item(self, info: Info, item_id: InputID) -> MallItemResult:
        item = await mall.update_item(
            decode_id(item_id, "MallItem", "itemId"),
            active=False,
            actor=Actor.admin(user_of(info).user_id),
            action="deactivateMallItem",
        )
        return MallItemType.from_model(item)

    @strawberry.mutation(
        permission_classes=[IsConsumer],
        description=(
            "Redeem `quantity` of an item: its price is held from my gold coins (or shopping "
            "points) and the stock taken, until an admin fulfils or voids it. The same "
            "`idempotencyKey` never redeems twice (with other terms: IDEMPOTENCY_KEY_REUSED)."
        ),
    )
    @on_error
    async def redeem_item(
        self, info: Info, item_id: InputID, quantity: int, idempotency_key: str
    ) -> RedemptionResult:
        r = await redeeming.redeem_item(
            consumer_id=user_of(info).user_id,
            item_id=decode_id(item_id, "MallItem", "itemId"),
            quantity=quantity,
            idempotency_key=idempotency_key,
        )
        return MallRedemptionType.from_model(r)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="The item was handed over: the held asset is spent. Repeating is harmless.",
    )
    @on_error
    async def fulfil_redemption(self, info: Info, redemption_id: InputID) -> RedemptionResult:
        r = await redeeming.fulfil_redemption(
            decode_id(redemption_id, "MallRedemption", "redemptionId"),
            by_user_id=user_of(info).user_id,
        )
        return MallRedemptionType.from_model(r)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Call a redemption off: the asset goes back to the consumer and the stock to "
            "the item. Repeating is harmless."
        ),
    )
    @on_error
    async def void_redemption(self, info: Info, redemption_id: InputID) -> RedemptionResult:
        r = await redeeming.void_redemption(
            decode_id(redemption_id, "MallRedemption", "redemptionId"),
            by_user_id=user_of(info).user_id,
        )
        return MallRedemptionType.from_model(r)
