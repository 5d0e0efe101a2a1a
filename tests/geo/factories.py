"""Rows for discovery tests, made directly with the ORM (the merchant and order domains
call the same hooks after their commits)."""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from app.infra import outbox
from app.infra.coords import EARTH_RADIUS_M
from app.infra.redis import get_redis
from app.models.merchants import Merchant, MerchantStatus
from app.models.orders import Order, OrderStatus
from app.models.users import Role, User
from app.services import discovery as hooks

CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai (GCJ-02)


async def clear_geo_keys() -> None:
    r = get_redis()
    keys = [k async for k in r.scan_iter(match="geo:v1:*", count=500)]
    if keys:
        await r.delete(*keys)


def offset(
    lat: float, lng: float, north_m: float = 0.0, east_m: float = 0.0
) -> tuple[float, float]:
    """The point `north_m` / `east_m` metres away on the sphere Redis and we measure on."""
    d = math.hypot(north_m, east_m) / EARTH_RADIUS_M
    if d == 0:
        return lat, lng
    brg = math.atan2(east_m, north_m)
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(brg))
    l2 = l1 + math.atan2(
        math.sin(brg) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), math.degrees(l2)


async def user(role: Role = Role.CONSUMER) -> User:
    return await User.create(role=role, nickname=f"u{secrets.token_hex(3)}")


async def merchant(
    owner: User | None = None,
    *,
    at: tuple[float, float] = CENTRE,
    name: str = "shop",
    category: str = "food",
    discount_bps: int = 1000,
    rating_x100: int = 450,
    status: MerchantStatus = MerchantStatus.APPROVED,
    recruiter: User | None = None,
) -> Merchant:
    owner = owner or await user(Role.MERCHANT_OWNER)
    m = await Merchant.create(
        owner=owner,
        name=name,
        category=category,
        address=f"{name} road",
        lat=Decimal(f"{at[0]:.7f}"),
        lng=Decimal(f"{at[1]:.7f}"),
        region_code="310101",
        discount_bps=discount_bps,
        status=status,
        rating_x100=rating_x100,
        recruiter_user=recruiter,
    )
    await hooks.merchant_changed(m)
    return m


async def paid_order(
    m: Merchant,
    consumer: User,
    amount_fen: int,
    paid_at: datetime | None = None,
    *,
    voucher_fen: int = 0,
    hook: bool = True,
) -> Order:
    o = await Order.create(
        consumer=consumer,
        merchant=m,
        idempotency_key=secrets.token_hex(8),
        amount_fen=amount_fen,
        voucher_fen=voucher_fen,
        cash_fen=amount_fen - voucher_fen,
        discount_bps=m.discount_bps,
        discount_fen=amount_fen * m.discount_bps // 10_000,
        channel="sandbox",
        status=OrderStatus.PAID,
        policy="zhongdian",
        paid_at=paid_at or datetime.now(UTC),
    )
    if hook:
        await hooks.order_paid(o)  # as `mark_paid` calls it on SQLite: from the order row
    return o


def paid_event(o: Order, m: Merchant) -> outbox.Event:
    """The `order.paid` event `mark_paid` writes for this order."""
    return outbox.event(
        outbox.EventKind.ORDER_PAID,
        f"order:{o.id}",
        order_id=o.id,
        merchant_id=m.id,
        amount_fen=o.amount_fen,
        paid_at=o.paid_at.isoformat(),
        merchant_lat=float(m.lat),
        merchant_lng=float(m.lng),
    )


async def refund(o: Order, amount_fen: int) -> None:
    o.refunded_fen += amount_fen
    o.status = (
        OrderStatus.REFUNDED if o.refunded_fen >= o.amount_fen else OrderStatus.PARTIALLY_REFUNDED
    )
    await o.save(update_fields=["refunded_fen", "status"])
    await hooks.order_refunded(o, amount_fen)
