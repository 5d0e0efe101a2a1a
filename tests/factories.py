"""Building blocks for tests: real rows through the real domain functions."""

from __future__ import annotations

import itertools
from decimal import Decimal

from app.domain import merchants, orders
from app.domain.ledger import Entry, Post, acct, post
from app.infra import outbox
from app.models.ledger import Asset
from app.models.merchants import CoordSystem, Merchant
from app.models.orders import Order
from app.models.users import Role, User
from app.services import checkout

_seq = itertools.count(1)

CITY_CENTRE = (Decimal("31.2304"), Decimal("121.4737"))  # Shanghai, GCJ-02


async def make_user(role: Role = Role.CONSUMER, **kw) -> User:
    n = next(_seq)
    return await User.create(**{"phone": f"1380{n:07d}", "role": role, "nickname": f"u{n}", **kw})


async def make_merchant(
    owner: User | None = None, discount_bps: int = 1000, approve: bool = True, **kw
) -> Merchant:
    owner = owner or await make_user()
    m = await merchants.apply_merchant(
        owner_id=owner.id,
        name=kw.pop("name", f"shop {next(_seq)}"),
        category=kw.pop("category", "food"),
        address="1 Demo Road",
        location=merchants.Location(*kw.pop("at", CITY_CENTRE), CoordSystem.GCJ02),
        region_code=kw.pop("region_code", "310101"),
        discount_bps=discount_bps,
        **kw,
    )
    if approve:
        m = await merchants.approve_merchant(m.id)
        await outbox.drain()  # discovery's index has it
    return m


async def give_vouchers(user_id: int, fen: int) -> None:
    """Vouchers as if released earlier: the CNY behind them sits in the voucher reserve."""
    await post(
        Entry(
            "test_vouchers",
            f"user:{user_id}",
            [
                Post(acct.WORLD_CNY, acct.VOUCHER_RESERVE, fen),
                Post(acct.issuer(Asset.VOUCHER), acct.consumer_voucher(user_id), fen),
            ],
        )
    )


async def paid_order(
    consumer: User,
    merchant: Merchant,
    amount_fen: int,
    voucher_fen: int = 0,
    key: str | None = None,
) -> Order:
    order = await checkout.create_order(
        consumer_id=consumer.id,
        merchant_id=merchant.id,
        amount_fen=amount_fen,
        voucher_fen=voucher_fen,
        idempotency_key=key or f"k{next(_seq)}",
    )
    if order.status not in orders.PAID_STATES:
        order = await orders.mark_paid(
            order.id,
            channel=order.channel,
            channel_txn_id=f"txn-{order.id}",
            amount_fen=order.cash_fen,
        )
    await outbox.drain()  # its consumers (the heat map) have been told
    return order
