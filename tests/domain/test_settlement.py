"""The settlement plan of one order, checked by hand (SPEC §3, §6, §7)."""

from __future__ import annotations

from app.domain.policy import load_policy
from app.domain.settlement import (
    SettlementPlan,
    Surroundings,
    discount_fen,
    plan_settlement,
    share_of,
)


def test_discount_rounds_half_up():
    assert discount_fen(12_345, 1_500) == 1_852  # 1851.75
    assert discount_fen(10, 1_500) == 2  # 1.5 -> 2
    assert discount_fen(30, 500) == 2  # 1.5 -> 2 (half up, not to even)
    assert discount_fen(1, 300) == 0


def test_share_of_is_cumulative_and_exact():
    parts = [share_of(1_001, r, 3) - share_of(1_001, r - 1, 3) for r in (1, 2, 3)]
    assert sum(parts) == 1_001 and parts == [333, 334, 334]


def test_wodian_order_of_1000_yuan():
    # 我店: 1,000 yuan at 20%, consumer invited by one user, bound to a store, city agent
    policy = load_policy("wodian")
    plan = plan_settlement(
        amount_fen=100_000,
        voucher_fen=0,
        discount_fen_=20_000,
        policy=policy,
        around=Surroundings(inviters=(7,), bound_merchant_id=3, agents=(("city", 11),)),
    )
    parts = {(p.kind, p.id): p.fen for p in plan.parties}
    assert plan.merchant_fen == 80_000
    assert parts[("inviter", 7)] == 5_000  # 5% of A (跨界收益)
    assert parts[("bound_merchant", 3)] == 1_000  # 5% of the consumer's 20,000 centi-points
    assert parts[("agent", 11)] == 400  # 2% of D, out of the platform fee
    assert parts[("platform", "revenue")] == 3_000 - 400  # 15% of D less the agent
    assert (
        parts[("pool", "consumer")] + parts[("pool", "merchant")] == 20_000 - 5_000 - 1_000 - 3_000
    )
    assert sum(p.fen for p in plan.parties) == plan.discount_fen
    assert plan.consumer_points == plan.merchant_points == 20_000  # 200 points each (seed 003)
    assert plan.gold_coins == 1_000  # 1% of C in centi-coins
    # what the order keeps of it is the whole plan, and reads back as the same plan
    from dataclasses import asdict

    assert plan.to_json() == asdict(plan)
    assert SettlementPlan.from_json(plan.to_json()) == plan


def test_pingchuan_points_on_amount_and_vouchers_earn_none():
    policy = load_policy("pingchuan")
    plan = plan_settlement(
        amount_fen=10_000,
        voucher_fen=4_000,
        discount_fen_=800,
        policy=policy,
        around=Surroundings(),
    )
    assert plan.consumer_points == 6_000  # basis A, on the cash part only
    assert sum(p.fen for p in plan.parties) == 800
