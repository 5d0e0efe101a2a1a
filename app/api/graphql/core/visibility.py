"""Who may see what: one rule per type whose visibility depends on its state, used by
`node(id)` and by every field that returns the type, so no path shows more than
another.

Orders and point lots have theirs in app/api/graphql/orders/resolvers.py (`can_read_order`,
`can_read_lot`: the parties to them and admins), a user node is its own user's and
admins' (app/api/graphql/users/types.py).
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from app.domain.principals import PartnerPrincipal, Principal, UserPrincipal
from app.infra.errors import NotFound
from app.models.merchants import Merchant, MerchantStatus

READ_MERCHANTS = "read:merchants"


def merchant_visible(principal: Principal | None, merchant: Merchant) -> bool:
    """A merchant open for business is public; in any other state (pending, suspended,
    closed) only its owner and admins see it. A partner app holding `read:merchants`
    sees the merchants it was given (by id or region), in any state, and no other,
    whichever way it asks (`merchant`, `node`, an order's `merchant`)."""
    if isinstance(principal, PartnerPrincipal):
        return READ_MERCHANTS in principal.scopes and principal.sees(
            merchant.id, merchant.region_code
        )
    if merchant.status == MerchantStatus.APPROVED:
        return True
    # a device or partner id never stands for a user's
    if not isinstance(principal, UserPrincipal):
        return False
    return principal.is_admin or principal.user_id == merchant.owner_id


def partner_merchants(partner: PartnerPrincipal) -> Any:
    """The merchants a partner app may see, as a queryset."""
    given = Q(id__in=sorted(partner.merchant_ids))
    for prefix in partner.region_prefixes:
        given |= Q(region_code__startswith=prefix)
    return Merchant.filter(given)


async def partner_merchant(partner: PartnerPrincipal, merchant_id: int, field: str) -> Merchant:
    """A merchant the partner app was given; one it was not is as if it did not exist."""
    merchant = await Merchant.get_or_none(id=merchant_id)
    if merchant is None or not partner.sees(merchant.id, merchant.region_code):
        raise NotFound("merchant", field)
    return merchant
