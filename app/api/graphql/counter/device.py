"""Who a signed-in POS device is: the POS page needs its store's ID (for the store's
bind code) and name (to show) from the device token alone."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.ids import encode_id
from app.api.graphql.core.permissions import IsPosDevice, device_of
from app.models.merchants import Merchant, PosDevice


@strawberry.type(description="The signed-in POS device and the store it serves.")
class PosDeviceInfo:
    serial: str
    merchant_id: relay.GlobalID
    merchant_name: str


@strawberry.type
class PosDeviceQuery:
    @strawberry.field(
        permission_classes=[IsPosDevice],
        description="The signed-in POS device and its store.",
    )
    async def pos_device(self, info: Info) -> PosDeviceInfo | None:
        principal = device_of(info)
        if principal is None:
            return None
        device = await PosDevice.get_or_none(id=principal.device_id)
        store = await Merchant.get_or_none(id=principal.merchant_id)
        if device is None or store is None:
            return None
        return PosDeviceInfo(
            serial=device.serial,
            merchant_id=encode_id("Merchant", store.id),
            merchant_name=store.name,
        )
