"""Demo data for the embedded default: a few merchants around one city centre,
consumers and orders, so the first command shows something real."""

from __future__ import annotations

from app.models.users import Role, User

DEMO_PHONES = ["13800000001", "13800000002", "13800000003"]


async def seed_demo() -> int:
    admin, _ = await User.get_or_create(
        phone="13900000000", defaults={"role": Role.ADMIN, "nickname": "admin"}
    )
    for i, phone in enumerate(DEMO_PHONES, start=1):
        await User.get_or_create(phone=phone, defaults={"nickname": f"consumer{i}"})
    print(f"demo users ready (admin id {admin.id})")
    return 0
