"""Who serves which store at the counter: a POS device the one store that registered
it; a person a store they own or staff, named by `merchantId`; a partner app holding
`write:counter_orders` (its own till system) a store it was given, named by
`merchantId`."""

from __future__ import annotations

from strawberry.types import Info

from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.permissions import device_of, partner_of, user_of
from app.api.graphql.core.visibility import partner_merchant
from app.domain.merchants import owned_merchant
from app.infra.errors import Invalid, PermissionDenied


async def counter_store(info: Info, merchant_id: InputID | None) -> tuple[int, str]:
    """The store the caller serves at the counter, and the caller's key."""
    device = device_of(info)
    if device is not None:
        if merchant_id is not None and decode_id(merchant_id, "Merchant", "merchantId") != (
            device.merchant_id
        ):
            raise PermissionDenied("not this store's device", "merchantId")
        return device.merchant_id, device.key
    if merchant_id is None:
        raise Invalid("merchantId is required", "merchantId")
    mid = decode_id(merchant_id, "Merchant", "merchantId")
    partner = partner_of(info)
    if partner is not None:
        # a store the app was not given is as if it did not exist
        await partner_merchant(partner, mid, "merchantId")
        return mid, partner.key
    person = user_of(info)
    await owned_merchant(person.user_id, mid, staff_ok=True)
    return mid, person.key
