"""Who may read an order or a point lot: the types' fields and the resolvers ask here."""

from __future__ import annotations

from strawberry.types import Info

from app.api.graphql.core.permissions import viewing_user
from app.domain.merchants import owned_merchant
from app.infra.errors import DomainError
from app.models.orders import Order, PointLot


async def can_read_order(info: Info, order: Order) -> bool:
    """The order's consumer, its store's owner and staff, and admins (users only)."""
    p = viewing_user(info)
    if p is None:
        return False
    if p.is_admin or order.consumer_id == p.user_id:
        return True
    try:
        await owned_merchant(p.user_id, order.merchant_id, staff_ok=True)
    except DomainError:  # not theirs
        return False
    return True


async def can_read_lot(info: Info, lot: PointLot) -> bool:
    p = viewing_user(info)
    if p is None:
        return False
    if p.is_admin:
        return True
    if lot.holder_kind == "consumer":
        return lot.holder_id == p.user_id
    try:
        await owned_merchant(p.user_id, lot.holder_id, staff_ok=True)
    except DomainError:
        return False
    return True
