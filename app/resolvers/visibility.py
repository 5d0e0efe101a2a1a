"""Who may see what: one rule per type whose visibility depends on its state, used by
`node(id)` and by every field that returns the type, so no path shows more than
another.

Orders and point lots have theirs in app/resolvers/orders.py (`can_read_order`,
`can_read_lot`: the parties to them and admins), a user node is its own user's and
admins' (app/schema/users.py).
"""

from __future__ import annotations

from app.domain.tokens import Principal
from app.models.merchants import Merchant, MerchantStatus
from app.models.users import Role

# subjects that are not users: their id never stands for a user's
_NOT_USERS = frozenset({Role.POS_DEVICE.value, Role.PARTNER.value})


def merchant_visible(principal: Principal | None, merchant: Merchant) -> bool:
    """A merchant open for business is public; in any other state (pending, suspended,
    closed) only its owner and admins see it."""
    if merchant.status == MerchantStatus.APPROVED:
        return True
    if principal is None or principal.role in _NOT_USERS:
        return False
    return principal.role == Role.ADMIN.value or principal.subject == merchant.owner_id
