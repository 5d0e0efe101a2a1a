"""Payment channels in the API (operations only)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.adapters.payments.base import PaymentErrorCode
from app.adapters.payments.health import ChannelHealth
from app.api.graphql.core.errors import error_type, graphql_enum
from app.models.payments import MerchantChannel

PaymentError = error_type("PaymentError", PaymentErrorCode)
graphql_enum(PaymentErrorCode)


@strawberry.type(name="PaymentChannelStatus")
class ChannelStatusType:
    channel: str
    live: bool = strawberry.field(description="Configured, not down by an admin or automatically.")
    configured: bool
    admin_live: bool
    auto_down: bool
    reason: str

    @classmethod
    def of(cls, h: ChannelHealth) -> ChannelStatusType:
        return cls(
            channel=h.channel,
            live=h.live,
            configured=h.configured,
            admin_live=h.admin_live,
            auto_down=h.auto_down,
            reason=h.reason,
        )


@strawberry.type(name="MerchantPaymentChannel")
class MerchantChannelType:
    channel: str
    priority: int
    enabled: bool
    provider_merchant_id: str

    @classmethod
    def from_model(cls, m: MerchantChannel) -> MerchantChannelType:
        return cls(
            channel=m.channel,
            priority=m.priority,
            enabled=m.enabled,
            provider_merchant_id=m.provider_merchant_id,
        )


@strawberry.input
class MerchantChannelInput:
    channel: str
    priority: int = 100
    enabled: bool = True
    provider_merchant_id: str = strawberry.field(
        default="", description="The merchant at the provider (WeChat sub_mchid, ...)."
    )


@strawberry.type
class MerchantChannelsPayload:
    channels: list[MerchantChannelType]


SetChannelStatusResult = Annotated[
    ChannelStatusType | PaymentError,  # type: ignore[valid-type]
    strawberry.union("SetChannelStatusResult"),
]
SetMerchantChannelsResult = Annotated[
    MerchantChannelsPayload | PaymentError,  # type: ignore[valid-type]
    strawberry.union("SetMerchantChannelsResult"),
]
