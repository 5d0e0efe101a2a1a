"""Channel operations: status of every channel, mark one down or live, a merchant's
channels. Admin only."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.adapters.payments.base import PaymentErrorCode
from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.permissions import IsAdmin, user_of
from app.api.graphql.payments.types import (
    ChannelStatusType,
    MerchantChannelInput,
    MerchantChannelsPayload,
    MerchantChannelType,
    PaymentError,
    SetChannelStatusResult,
    SetMerchantChannelsResult,
)
from app.domain.audit import Actor
from app.models.payments import MerchantChannel
from app.services import channels as admin

on_error = handles_errors(PaymentError, PaymentErrorCode)


@strawberry.type
class PaymentQuery:
    # A fixed, short list (one row per channel the platform knows), not a connection.
    @strawberry.field(permission_classes=[IsAdmin], description="Every channel and its health.")
    async def payment_channels(self, info: Info) -> list[ChannelStatusType]:
        return [ChannelStatusType.of(h) for h in await admin.channel_statuses()]

    @strawberry.field(
        permission_classes=[IsAdmin], description="A merchant's channels, best first."
    )
    async def merchant_payment_channels(
        self, info: Info, merchant_id: InputID
    ) -> list[MerchantChannelType]:
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        rows = await MerchantChannel.filter(merchant_id=mid).order_by("priority", "id")
        return [MerchantChannelType.from_model(r) for r in rows]


@strawberry.type
class PaymentMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Mark a payment channel down (orders route to the next live one) or live.",
    )
    @on_error
    async def set_channel_status(
        self, info: Info, channel: str, live: bool, reason: str = ""
    ) -> SetChannelStatusResult:
        h = await admin.set_channel_status(
            channel, live, reason=reason, by_user_id=user_of(info).user_id
        )
        return ChannelStatusType.of(h)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Set the channels a merchant is paid through, in priority order.",
    )
    @on_error
    async def set_merchant_channels(
        self,
        info: Info,
        merchant_id: InputID,
        channels: list[MerchantChannelInput],
        reason: str = "",
    ) -> SetMerchantChannelsResult:
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        rows = await admin.set_merchant_channels(
            mid,
            [
                admin.MerchantChannelSpec(c.channel, c.priority, c.enabled, c.provider_merchant_id)
                for c in channels
            ],
            actor=Actor.admin(user_of(info).user_id),
            reason=reason,
        )
        return MerchantChannelsPayload(channels=[MerchantChannelType.from_model(r) for r in rows])
