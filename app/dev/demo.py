"""Demo data for the embedded default: merchants around one city centre (Shanghai,
People's Square), consumers and paid orders, so the first command shows something real.
Idempotent: running it again changes nothing."""

from __future__ import annotations

from decimal import Decimal

from app.domain import merchants, orders
from app.models.merchants import CoordSystem, Merchant
from app.models.users import Role, User
from app.services import checkout

CENTRE = (Decimal("31.2304"), Decimal("121.4737"))  # GCJ-02
SHOPS = [
    # name, category, offset (lat, lng) in 1e-4 degrees, discount bps
    ("Lao Zhang Noodles", "food", (12, -8), 1000),
    ("Corner Tea House", "drinks", (-20, 15), 800),
    ("Fresh Mart", "grocery", (35, 40), 500),
    ("Bright Smile Dental", "health", (-60, -30), 1500),
    ("Page One Books", "books", (80, 10), 1200),
    ("Sunrise Bakery", "food", (-5, 70), 2000),
]


async def seed_demo() -> int:
    if await Merchant.filter(name=SHOPS[0][0]).exists():
        print("demo data already present")
        return 0
    admin, _ = await User.get_or_create(
        phone="13900000000", defaults={"role": Role.ADMIN, "nickname": "admin"}
    )
    owners = [
        (await User.get_or_create(phone=f"1370000{i:04d}", defaults={"nickname": f"owner{i}"}))[0]
        for i in range(len(SHOPS))
    ]
    consumers = [
        (await User.get_or_create(phone=f"1380000{i:04d}", defaults={"nickname": f"consumer{i}"}))[
            0
        ]
        for i in range(1, 4)
    ]
    shops = []
    for (name, category, (dlat, dlng), bps), owner in zip(SHOPS, owners, strict=True):
        m = await merchants.apply_merchant(
            owner_id=owner.id,
            name=name,
            category=category,
            address=f"{abs(dlat)} Demo Road",
            location=merchants.Location(
                CENTRE[0] + Decimal(dlat) / 10_000,
                CENTRE[1] + Decimal(dlng) / 10_000,
                CoordSystem.GCJ02,
            ),
            region_code="310101",
            discount_bps=bps,
            recruiter_user_id=consumers[0].id,
        )
        shops.append(await merchants.approve_merchant(m.id))
    n = 0
    for i, consumer in enumerate(consumers):
        for j, shop in enumerate(shops[:4]):
            order = await checkout.create_order(
                consumer_id=consumer.id,
                merchant_id=shop.id,
                amount_fen=(i + 1) * 5_000 + j * 1_234,
                idempotency_key=f"demo-{i}-{j}",
            )
            if order.status not in orders.PAID_STATES:
                await orders.mark_paid(
                    order.id,
                    channel=order.channel,
                    channel_txn_id=f"demo-{order.id}",
                    amount_fen=order.cash_fen,
                )
            n += 1
    print(
        f"demo ready: admin user id {admin.id}, consumer ids {[c.id for c in consumers]}, "
        f"{len(shops)} merchants, {n} paid orders"
    )
    return 0
