"""Who may see what: one rule per type whose visibility depends on its state, used by
`node(id)` and by every field that returns the type, so no path shows more than
another.

Orders and point lots have theirs in app/api/graphql/orders/resolvers.py (`can_read_order`,
`can_read_lot`: the parties to them and admins), a user node is its own user's and
admins' (app/api/graphql/users/types.py).
"""

from __future__ import annotations

from app.domain.principals import Principal, UserPrincipal
from app.models.merchants import Merchant, MerchantStatus


def merchant_visible(principal: Principal | None, merchant: Merchant) -> bool:
    """A merchant open for business is public; in any other state (pending, suspended,
    closed) only its owner and admins see it."""
    if merchant.status == MerchantStatus.APPROVED:
        return True
    # a device or partner id never stands for a user's
    if not isinstance(principal, UserPrincipal):
        return False
    return principal.is_admin or principal.user_id == merchant.owner_id
