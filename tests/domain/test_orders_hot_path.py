"""What the hand-written statements of a paid order read and write (SPEC §3, §5)."""

from __future__ import annotations

import pytest

from app.domain import merchants, orders
from app.domain.policy import clear_policy_cache, get_policy
from app.domain.settlement import Surroundings, plan_settlement
from app.models.merchants import Agent
from app.models.orders import OrderStatus
from app.models.payments import Payment, PaymentStatus
from app.models.users import Role
from app.services import checkout
from app.services.payments import out_trade_no
from tests.factories import make_merchant, make_user


@pytest.fixture(params=["zhongdian", "pingchuan"])
def policy(request, settings):
    """zhongdian pays agents and the bound store, pingchuan agents and two inviters."""
    old = settings.policy
    settings.policy = request.param
    clear_policy_cache()
    try:
        yield get_policy()
    finally:
        settings.policy = old
        clear_policy_cache()


async def test_payment_sees_every_party_around_it_and_no_other(db, policy):
    # given agents of the merchant's province, city and district, and agents that
    # are not its own: another city, another district, its codes at the wrong level
    region = "310101"
    for level, code in (
        ("city", "320100"),
        ("district", "310102"),
        ("province", "310100"),
        ("city", "310000"),
        ("district", "310100"),
        ("city", region),
    ):
        await Agent.create(user=await make_user(Role.AGENT), level=level, region_code=code)
    own = {
        level: (await Agent.create(user=await make_user(Role.AGENT), level=level,
                                   region_code=code)).id
        for level, code in (("province", "310000"), ("city", "310100"), ("district", region))
    }  # fmt: skip
    shop = await make_merchant(region_code=region, discount_bps=2000)
    bound_to = await make_merchant(region_code="440305")
    # and a consumer with two inviters above them, bound to another store
    top = await make_user()
    inviter = await make_user(inviter=top)
    consumer = await make_user(inviter=inviter)
    await merchants.bind_by_qr(consumer.id, merchants.merchant_qr(bound_to.id))
    # when the consumer pays
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=shop.id, amount_fen=10_000, idempotency_key="k1"
    )
    order = await orders.mark_paid(
        order.id, channel=order.channel, channel_txn_id="t1", amount_fen=order.cash_fen
    )
    # then the plan is the one for exactly those surroundings
    expected = plan_settlement(
        amount_fen=10_000,
        voucher_fen=0,
        discount_fen_=order.discount_fen,
        policy=policy,
        around=Surroundings(
            inviters=(inviter.id, top.id),
            bound_merchant_id=bound_to.id,
            agents=tuple(sorted(own.items())),
        ),
    )
    assert order.settlement == expected.to_json()
    # (a plan in which each of them has a share, so a wrong party would show)
    parties = {(p.kind, str(p.id)) for p in expected.parties}
    assert {("agent", str(i)) for i in own.values()} <= parties
    if policy.settlement.invite_rates_bps:
        assert {("inviter", str(inviter.id)), ("inviter", str(top.id))} <= parties
    else:
        assert ("bound_merchant", str(bound_to.id)) in parties


async def test_new_order_and_its_payment_row_agree(db):
    consumer, shop = await make_user(), await make_merchant(discount_bps=1500)
    order = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=shop.id, amount_fen=8_000, voucher_fen=0,
        idempotency_key="k2",
    )  # fmt: skip
    payment = await Payment.get(order_id=order.id)
    # the order waits for its payment, with the parameters the channel gave
    assert order.status == OrderStatus.PAYING and order.pay_params
    assert payment.pay_params == order.pay_params
    assert payment.status == PaymentStatus.PENDING and payment.error_code == ""
    # and the payment row is the order's: trade number, channel, amounts, split
    assert payment.out_trade_no == out_trade_no(order.id)
    assert (payment.channel, payment.amount_fen) == (order.channel, order.cash_fen)
    assert payment.platform_fen == order.discount_fen == 1_200
    assert payment.merchant_fen == 8_000 - 1_200
    # and a repeat of the request returns the same order and makes no second payment
    again = await checkout.create_order(
        consumer_id=consumer.id, merchant_id=shop.id, amount_fen=8_000, idempotency_key="k2"
    )
    assert again.id == order.id and await Payment.filter(order_id=order.id).count() == 1


async def test_the_heat_map_counts_a_payment_once_and_only_with_it(db):
    from tortoise import connections

    from app.domain.ledger import Overdraft, acct
    from app.infra import sql
    from app.models.geo import GeoOrderFact, HeatCell, MerchantTaskCounter
    from tests.factories import paid_order

    m, c = await make_merchant(), await make_user()
    # given a paid order, and its payment applied again (a repeated notification)
    o = await paid_order(c, m, 1_000)
    again = await orders.mark_paid(
        o.id, channel=o.channel, channel_txn_id=o.channel_txn_id, amount_fen=o.cash_fen
    )
    assert again.status == OrderStatus.PAID
    # then the heat map holds it once: one fact, one order in its cell, one in the week
    assert await GeoOrderFact.filter(order_id=o.id).count() == 1
    assert sum(h.orders for h in await HeatCell.all()) == 1
    assert sum(t.value for t in await MerchantTaskCounter.filter(merchant_id=m.id)) == 1
    # and when the ledger refuses a payment's entry (the orders' transit account, which
    # every payment passes through, made to look overdrawn), nothing of it is recorded
    second = await checkout.create_order(
        consumer_id=c.id, merchant_id=m.id, amount_fen=500, idempotency_key="second"
    )
    await sql.run(
        connections.get("default"),
        "UPDATE ledger_accounts SET balance = -1 WHERE name = ?",
        [acct.ORDER_TRANSIT.name],
    )
    with pytest.raises(Overdraft):
        await orders.mark_paid(
            second.id, channel=second.channel, channel_txn_id="t2", amount_fen=500
        )
    assert not await GeoOrderFact.filter(order_id=second.id).exists()
    assert sum(h.orders for h in await HeatCell.all()) == 1
    assert (await orders.Order.get(id=second.id)).status != OrderStatus.PAID
