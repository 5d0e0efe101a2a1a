"""The release engine (SPEC §4): golden schedule, trigger rules, cap, expiry, split,
subsidy, cohort bonus, solvency, safety valves, crash-and-rerun, one worker per pool."""

from __future__ import annotations

import csv
import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.ledger import Entry, Post, acct, balance_of, post
from app.domain.ledger.verify import verify_ledger
from app.domain.policy import PRESETS_DIR, Policy, parse_policy
from app.domain.releases import evaluate_pool, get_pool
from app.models.orders import PointLot
from app.models.releases import Pool, Release, ReleasePayment

GOLDEN = Path(__file__).parents[1] / "data" / "release_schedule_200pts_15pct.csv"
START = date(2025, 1, 6)  # a Monday


# ------------------------------------------------------------------ helpers


def make_policy(preset: str = "zhongdian", **release: Any) -> Policy:
    data = tomllib.loads((PRESETS_DIR / f"{preset}.toml").read_text(encoding="utf-8"))
    for key, value in release.items():
        if key.startswith("pools_"):
            data["pools"][key[6:]]["virtual_start_points"] = value
        elif key == "cohort_bonus":
            data["release"]["cohort_bonus"].update(value)
        else:
            data["release"][key] = value
    return parse_policy(data, "test")


async def add_lot(
    points: int,
    *,
    pool: str = "consumer",
    holder_id: int = 1,
    holder_kind: str | None = None,
    recruiter: int | None = None,
    activated: datetime | None = None,
) -> PointLot:
    return await PointLot.create(
        holder_kind=holder_kind or pool,
        holder_id=holder_id,
        pool=pool,
        points=points,
        status="active",
        activate_on=START,
        activated_at=activated or datetime(2024, 12, 31, tzinfo=UTC),
        recruiter_user_id=recruiter,
    )


async def fund(amount_fen: int, pool: str = "consumer") -> None:
    await post(
        Entry(
            "test_funding",
            f"fund:{pool}",
            [Post(acct.WORLD_CNY, acct.pool_available(pool), amount_fen)],
        )
    )


async def release_at(pool: str, at: date, policy: Policy, **kw: Any):
    """Evaluate on `at`; when that schedules a release, evaluate again on its due day."""
    ev = await evaluate_pool(pool, at=at, policy=policy, **kw)
    if ev.release is None and ev.due_on is not None:
        ev = await evaluate_pool(pool, at=ev.due_on, policy=policy, **kw)
    return ev


async def payments_of(lot: PointLot, kind: str = "regular") -> list[ReleasePayment]:
    return await ReleasePayment.filter(lot_id=lot.id, kind=kind).order_by("id")


# ------------------------------------------------------------------ golden


async def test_golden_schedule_200_points_at_15_percent(db):
    """Runs on both databases; the issue requires it on PostgreSQL (run with DATABASE_URL)."""
    # given the 众店 policy with every release growing the index by exactly 15%
    policy = make_policy(max_index_growth_bps=1500, payout_cap_bps=10_000)
    await get_pool("consumer", START)
    lot = await add_lot(20_000)  # 200 points
    await fund(10**15)
    with open(GOLDEN, encoding="utf-8") as f:
        golden = list(csv.DictReader(f))
    at = START
    for row in golden:
        # the pool grows by 20% each period (capped to 15% in the index)
        pool = await Pool.get(name="consumer")
        size = pool.last_size or policy.pools["consumer"].virtual_start_points
        await add_lot(size // 5 + 1, holder_id=2)
        # when the pool is evaluated 10 days after its last release
        ev = await release_at("consumer", at + timedelta(days=10), policy)
        assert ev.release is not None, ev.note
        at = ev.release.run_on
        # then the lot receives exactly the golden amount
        lot = await PointLot.get(id=lot.id)
        pay = (await payments_of(lot))[-1]
        rel = await Release.get(id=pay.release_id)
        ratio = (Decimal(rel.index_after) / Decimal(1)).quantize(Decimal("1e-18"))
        assert (rel.release_no, str(ratio)) == (int(row["release_no"]), row["index_multiplier"])
        assert pay.paid_units == int(row["release_fen"]), row
        assert lot.released_units == int(row["cumulative_fen"]), row
        expected_status = "exited" if row["lot_status"] == "exited_cap" else "active"
        assert lot.status == expected_status
    assert lot.status == "exited" and lot.release_count == 36
    assert await balance_of(acct.consumer_voucher(1)) == 100_000
    assert (await verify_ledger()).ok


# ------------------------------------------------------------------ more helpers


async def grow(pool: str, policy: Policy, pct: int, holder_id: int = 999) -> PointLot:
    """Add an active filler lot that grows the pool by `pct`% over its last size."""
    p = await get_pool(pool, START)
    size = p.last_size or policy.pools[pool].virtual_start_points  # type: ignore[index]
    from app.domain.releases import pool_size

    current = await pool_size(pool, policy)
    need = size * pct // 100 - (current - size)
    return await add_lot(max(need, 1), pool=pool, holder_id=holder_id)


async def set_pool(name: str, **values: Any) -> None:
    await get_pool(name, START)
    await Pool.filter(name=name).update(**values)


async def first_release(policy: Policy, pool: str = "consumer") -> Release:
    await get_pool(pool, START)
    await grow(pool, policy, 20)
    ev = await release_at(pool, START + timedelta(days=10), policy)
    assert ev.release is not None, ev.note
    return ev.release


# ------------------------------------------------------------------ trigger


async def test_threshold_reached_early_schedules_next_working_day(db):
    # given a pool that grew 20% within its first week
    policy = make_policy()
    await get_pool("consumer", START)
    await grow("consumer", policy, 20)
    # when evaluated before the minimum interval, nothing happens
    ev = await evaluate_pool("consumer", at=START + timedelta(days=5), policy=policy)
    assert ev.due_on is None and ev.release is None
    # when evaluated on day 10 (Thursday 2025-01-16)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    # then the release is scheduled for the next working day, by growth
    assert ev.due_on == date(2025, 1, 17)
    pool = await Pool.get(name="consumer")
    assert (pool.due_on, pool.due_trigger) == (date(2025, 1, 17), "growth")
    assert await Release.all().count() == 0
    ev = await evaluate_pool("consumer", at=date(2025, 1, 17), policy=policy)
    assert ev.release is not None and ev.release.trigger == "growth"
    assert ev.release.growth == Decimal("0.2")


async def test_threshold_reached_late_releases_when_it_is_reached(db):
    # given a pool that has grown only 10% by day 10
    policy = make_policy()
    await get_pool("consumer", START)
    await grow("consumer", policy, 10)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    assert ev.due_on is None
    # when it reaches 15% on day 13 (a Sunday)
    await grow("consumer", policy, 16)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=13), policy=policy)
    # then the release falls on Monday
    assert ev.due_on == date(2025, 1, 20)
    rel = (await evaluate_pool("consumer", at=ev.due_on, policy=policy)).release
    assert rel is not None and rel.trigger == "growth" and rel.condition_on == date(2025, 1, 19)


async def test_max_interval_releases_with_low_growth(db):
    # given a first release, then only 5% growth
    policy = make_policy()
    await first_release(policy)
    anchor = (await Pool.get(name="consumer")).anchor_on
    await grow("consumer", policy, 5)
    # when 14 days pass nothing is due; at 15 days the max interval forces a release
    ev = await evaluate_pool("consumer", at=anchor + timedelta(days=14), policy=policy)
    assert ev.due_on is None
    ev = await release_at("consumer", anchor + timedelta(days=15), policy)
    rel = ev.release
    # then it releases anyway, with the actual growth in the index
    assert rel is not None and rel.trigger == "max_interval" and rel.release_no == 2
    assert rel.growth == Decimal("0.05")
    assert Decimal(rel.index_after) == Decimal("1.05")


async def test_an_evaluation_after_the_due_day_catches_up_at_once(db):
    # given a pool whose max interval passed while no worker ran
    policy = make_policy()
    await first_release(policy)
    anchor = (await Pool.get(name="consumer")).anchor_on
    await grow("consumer", policy, 5)
    # when it is evaluated a week after the due day
    ev = await evaluate_pool("consumer", at=anchor + timedelta(days=22), policy=policy)
    # then the release runs in that same evaluation, once
    assert ev.release is not None and ev.release.release_no == 2
    again = await evaluate_pool("consumer", at=anchor + timedelta(days=22), policy=policy)
    assert again.release is None or again.release.release_no == 2
    assert await Release.filter(pool_id=(await Pool.get(name="consumer")).id).count() == 2


async def test_next_working_day_across_national_day_and_adjusted_saturday(db):
    # given a pool whose condition is met on 2025-09-30, the eve of National Day
    policy = make_policy()
    await set_pool("consumer", anchor_on=date(2025, 9, 20))
    await grow("consumer", policy, 20)
    ev = await evaluate_pool("consumer", at=date(2025, 9, 30), policy=policy)
    # then the release waits for the first working day after the holiday
    assert ev.due_on == date(2025, 10, 9)
    ev = await evaluate_pool("consumer", at=date(2025, 10, 8), policy=policy)
    assert ev.release is None
    rel = (await evaluate_pool("consumer", at=date(2025, 10, 9), policy=policy)).release
    assert rel is not None and rel.run_on == date(2025, 10, 9)
    # and a condition met on Friday 2025-10-10 releases on the adjusted working Saturday
    await grow("consumer", policy, 20)
    await set_pool("consumer", anchor_on=date(2025, 9, 30))
    ev = await evaluate_pool("consumer", at=date(2025, 10, 10), policy=policy)
    assert ev.due_on == date(2025, 10, 11)


def test_calendar_falls_back_to_weekdays_and_obeys_overrides(tmp_path):
    from app.domain.releases.calendar import is_working_day, next_working_day

    # a year chinese-calendar does not cover: Monday to Friday
    assert next_working_day(date(2040, 1, 6)) == date(2040, 1, 9)
    f = tmp_path / "cal.toml"
    f.write_text("holidays = [2040-01-09]\nworkdays = [2040-01-07]\n", encoding="utf-8")
    assert next_working_day(date(2040, 1, 6), str(f)) == date(2040, 1, 7)
    assert not is_working_day(date(2040, 1, 9), str(f))


async def test_intervals_change_after_release_20(db):
    # given 平川 (10–15 days up to release 20, 15–30 after) without valves
    policy = make_policy("pingchuan", release_cap_of_new_consumption_bps=None)
    await set_pool("consumer", anchor_on=START, release_count=5, last_size=10**8)
    await grow("consumer", policy, 20)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    assert ev.due_on is not None  # release 6: 10 days suffice
    await set_pool("consumer", release_count=20, due_on=None, due_trigger=None)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    assert ev.due_on is None  # release 21: 15 days needed
    ev = await evaluate_pool("consumer", at=START + timedelta(days=15), policy=policy)
    assert ev.due_on == date(2025, 1, 22)


# ------------------------------------------------------------------ per-lot rules


async def test_cap_reached_mid_release_pays_the_rest_and_exits(db):
    # given a 200-point lot 50 fen short of its 5x cap
    policy = make_policy()
    await fund(10**12)
    lot = await add_lot(20_000)
    await PointLot.filter(id=lot.id).update(
        released_units=99_950, release_count=30, first_release_no=1
    )
    await first_release(policy)
    lot = await PointLot.get(id=lot.id)
    (pay,) = await payments_of(lot)
    # then it receives the 50 left of the formula's 100, and exits
    assert (pay.formula_units, pay.paid_units, pay.status_after) == (50, 50, "exited")
    assert (lot.released_units, lot.status) == (100_000, "exited")


@pytest.mark.parametrize(
    ("mode", "paid", "status"), [("expire", 100, "expired"), ("pay_remainder", 50_000, "exited")]
)
async def test_max_releases(db, mode: str, paid: int, status: str):
    # given a lot at its 40th and last release with 50,000 of its cap unreached
    policy = make_policy(on_max_releases=mode)
    await fund(10**12)
    lot = await add_lot(20_000)
    await PointLot.filter(id=lot.id).update(released_units=50_000, release_count=39)
    await first_release(policy)
    lot = await PointLot.get(id=lot.id)
    (pay,) = await payments_of(lot)
    assert (pay.paid_units, lot.status, lot.release_count) == (paid, status, 40)


async def test_split_80_20_vouchers_and_shopping_points(db):
    policy = make_policy(
        "pingchuan", release_cap_of_new_consumption_bps=None, holder_monthly_cap_bps=None
    )
    await fund(10**12)
    lot = await add_lot(20_000, holder_id=5)
    rel = await first_release(policy)
    (pay,) = await payments_of(lot)
    assert (pay.paid_units, pay.voucher_units, pay.shopping_units) == (100, 80, 20)
    assert await balance_of(acct.consumer_voucher(5)) == 80
    assert await balance_of(acct.consumer_shopping_points(5)) == 20
    assert await balance_of(acct.VOUCHER_RESERVE) == rel.voucher_fen
    assert await balance_of(acct.SHOPPING_POINTS_RESERVE) == rel.shopping_fen
    assert (await verify_ledger()).ok


async def test_recruiter_subsidy_on_merchant_lots(db):
    # given a merchant lot whose merchant was recruited by user 77
    policy = make_policy()
    await fund(10**12, "merchant")
    lot = await add_lot(200_000, pool="merchant", holder_id=3, recruiter=77)
    rel = await first_release(policy, "merchant")
    (pay,) = await payments_of(lot)
    # then the merchant gets 1,000 fen of vouchers and the recruiter 10% of it
    assert (pay.paid_units, pay.subsidy_units) == (1000, 100)
    assert await balance_of(acct.merchant_voucher(3)) == 1000
    assert await balance_of(acct.consumer_voucher(77)) == 100
    assert rel.subsidy_fen == 100
    spent = await balance_of(acct.VOUCHER_RESERVE)
    assert (
        spent == rel.paid_fen
        and await balance_of(acct.pool_available("merchant")) == 10**12 - spent
    )


async def test_cohort_bonus_at_release_36(db):
    # given the pool before its 36th release, with lots of cohorts 1 and 2
    policy = make_policy(payout_cap_bps=10_000)
    await set_pool("consumer", release_count=35, anchor_on=START, last_size=10**8)
    await fund(1_000_000)
    a = await add_lot(10_000, holder_id=11)
    b = await add_lot(30_000, holder_id=12)
    c = await add_lot(10_000, holder_id=13)
    done = await add_lot(10_000, holder_id=14)
    for lot, f in ((a, 1), (b, 1), (c, 2), (done, 1)):
        await PointLot.filter(id=lot.id).update(first_release_no=f, release_count=36 - f)
    await PointLot.filter(id=done.id).update(status="exited", released_units=50_000)
    rel = await first_release(policy)
    assert rel.release_no == 36
    # then 1% of the 1,000,000 fen available goes to each cohort, pro rata to points
    bonus = {p.lot_id: p.paid_units for p in await ReleasePayment.filter(kind="cohort_bonus")}
    assert bonus[a.id] == 2_500 and bonus[b.id] == 7_500 and bonus[c.id] == 10_000
    assert done.id not in bonus  # exited lots do not share
    rel = await Release.get(id=rel.id)
    assert rel.cohort_bonus_fen == 20_000 + sum(
        v for k, v in bonus.items() if k not in (a.id, b.id, c.id)
    )
    assert (await verify_ledger()).ok


# ------------------------------------------------------------------ solvency and valves


async def test_short_funds_scale_every_payment_by_one_factor(db):
    # given 3 lots asking for 100 + 300 + 1000 = 1400 fen but only 1,000 fen available
    policy = make_policy(payout_cap_bps=10_000)
    await get_pool("consumer", START)
    lots = [await add_lot(p, holder_id=i) for i, p in ((1, 20_000), (2, 60_000), (3, 200_000))]
    filler = await grow("consumer", policy, 20)
    await PointLot.filter(id=filler.id).update(status="cancelled")  # growth, no payment
    await fund(1_000)
    rel = await first_release(policy)
    # then s = 1000/1400 and every payment is floor(formula * s)
    assert rel.requested_fen == 1400 and rel.budget_fen == 1000
    assert rel.scale_factor == Decimal("0.714285714285714285")
    paid = [(await payments_of(lot))[0].paid_units for lot in lots]
    assert paid == [71, 214, 714]
    assert await balance_of(acct.pool_available("consumer")) == 1000 - sum(paid) >= 0
    assert rel.paid_fen == sum(paid)
    assert (await verify_ledger()).ok


async def _paid_order(consumer_id: int, amount_fen: int, paid_at: datetime) -> None:
    from app.models.merchants import Merchant
    from app.models.orders import Order
    from app.models.users import User

    user = await User.get_or_none(id=consumer_id) or await User.create(id=consumer_id)
    owner = await User.create()
    m = await Merchant.create(
        owner=owner,
        name="m",
        category="food",
        lat=0,
        lng=0,
        region_code="310101",
        discount_bps=1000,
    )
    await Order.create(
        consumer=user,
        merchant=m,
        idempotency_key=f"k{owner.id}",
        amount_fen=amount_fen,
        cash_fen=amount_fen,
        discount_bps=1000,
        discount_fen=amount_fen // 10,
        channel="test",
        status="paid",
        policy="pingchuan",
        paid_at=paid_at,
    )


async def test_safety_valves_bind_and_are_reported(db):
    # given 平川 valves: a release pays at most 50% of new consumption, a holder at most
    # 200% of their own consumption this month
    policy = make_policy("pingchuan")
    await fund(10**12)
    await get_pool("consumer", START)
    await add_lot(2_000_000, holder_id=21)  # formula asks 10,000 fen
    await add_lot(2_000_000, holder_id=22)
    filler = await grow("consumer", policy, 20)
    await PointLot.filter(id=filler.id).update(status="cancelled")
    at = START + timedelta(days=10)
    await _paid_order(21, 100_000, datetime(2025, 1, 10, 12, tzinfo=UTC))
    await _paid_order(22, 2_000, datetime(2025, 1, 10, 12, tzinfo=UTC))
    ev = await release_at("consumer", at, policy)
    rel = ev.release
    assert rel is not None
    # then the new-consumption cap (51,000 fen) does not bind, the holder cap does
    assert rel.valves["new_consumption"]["limit_fen"] == 51_000
    assert rel.valves["new_consumption"]["bound"] is False
    pays = {p.holder_id: p.paid_units for p in await ReleasePayment.all()}
    assert pays == {21: 10_000, 22: 4_000}
    hm = rel.valves["holder_monthly"]
    assert hm["bound"] is True and hm["lots_limited"] == 1 and hm["units_withheld"] == 6_000
    # and with little new consumption the release cap binds and scales the release
    await grow("consumer", policy, 40)
    await PointLot.filter(holder_id=999).update(status="cancelled")
    anchor = (await Pool.get(name="consumer")).anchor_on
    paid_at = datetime.combine(anchor + timedelta(days=3), datetime.min.time(), UTC)
    await _paid_order(23, 1_000, paid_at)
    rel2 = (await release_at("consumer", anchor + timedelta(days=10), policy)).release
    assert rel2 is not None and rel2.valves["new_consumption"]["bound"] is True
    assert rel2.budget_fen == 500 and rel2.scale_factor < 1 and rel2.paid_fen <= 500


# ------------------------------------------------------------------ idempotency, locks


async def test_crash_and_rerun_pays_nothing_twice(db):
    # given 250 lots released in batches of 100
    policy = make_policy(batch_size=100, payout_cap_bps=10_000)
    await fund(10**12)
    await get_pool("consumer", START)
    lots = [await add_lot(20_000 + i, holder_id=i % 7) for i in range(250)]
    await grow("consumer", policy, 20)
    ev = await evaluate_pool("consumer", at=START + timedelta(days=10), policy=policy)
    # when the run stops after its first batch (as if the worker was killed)
    ev = await evaluate_pool("consumer", at=ev.due_on, policy=policy, max_batches=1)
    rel = await Release.get()
    assert rel.status == "running" and 0 < rel.cursor_lot_id < lots[-1].id
    assert 0 < await ReleasePayment.all().count() < 251
    # and the pool is evaluated again
    ev = await evaluate_pool("consumer", at=ev.at, policy=policy)
    assert ev.note == "resumed"
    # then every lot is paid exactly once, and the totals add up
    rel = await Release.get()
    assert rel.status == "done"
    assert await ReleasePayment.all().count() == 251
    for lot in lots[:5] + lots[-5:]:
        (pay,) = await payments_of(lot)
        assert pay.paid_units == lot.points * 50 // 10_000
        assert (await PointLot.get(id=lot.id)).release_count == 1
    vouchers = sum([await balance_of(acct.consumer_voucher(i)) for i in range(7)])
    assert vouchers + await balance_of(acct.consumer_voucher(999)) == rel.paid_fen
    assert await balance_of(acct.pool_available("consumer")) == 10**12 - rel.paid_fen
    assert (await verify_ledger()).ok
    # and evaluating again pays nothing more
    await evaluate_pool("consumer", at=ev.at, policy=policy)
    assert await ReleasePayment.all().count() == 251


async def test_a_second_worker_is_refused_while_one_runs(db):
    from app.domain.releases import PoolLock
    from app.infra.errors import DomainError

    policy = make_policy()
    other = PoolLock("consumer")
    assert await other.acquire()
    with pytest.raises(DomainError) as exc:
        await evaluate_pool("consumer", at=START, policy=policy)
    assert exc.value.code == "LOCKED"
    assert not await PoolLock("consumer").release()  # not the holder: nothing removed
    assert await other.release()
    await evaluate_pool("consumer", at=START, policy=policy)


async def test_dry_run_writes_nothing(db):
    policy = make_policy()
    await fund(10**9)
    await add_lot(20_000)
    await first_release(policy)
    await grow("consumer", policy, 20)
    anchor = (await Pool.get(name="consumer")).anchor_on
    ev = await evaluate_pool(
        "consumer", at=anchor + timedelta(days=10), policy=policy, dry_run=True
    )
    assert ev.due_on is not None
    assert (await Pool.get(name="consumer")).due_on is None
    await evaluate_pool("consumer", at=anchor + timedelta(days=10), policy=policy)
    due = (await Pool.get(name="consumer")).due_on
    ev = await evaluate_pool("consumer", at=due, policy=policy, dry_run=True)
    assert ev.plan is not None and ev.plan.release_no == 2 and ev.plan.eligible_lots == 3
    assert await Release.all().count() == 1


async def test_sql_formula_equals_the_python_rule_for_any_index(db):
    # given earlier releases with awkward indexes and lots first paid at them
    from app.domain.releases import rules

    policy = make_policy(payout_cap_bps=10_000, max_index_growth_bps=None)
    pool = await get_pool("consumer", START)
    indexes = {
        1: "1.000000000000000000000000000000",
        2: "1.123456789012345678901234567891",
        3: "1.987654321098765432109876543211",
    }
    for no, idx in indexes.items():
        await Release.create(
            pool_id=pool.id,
            release_no=no,
            status="done",
            phase="done",
            policy="t",
            trigger="growth",
            condition_on=START,
            run_on=START,
            size=1,
            prev_size=1,
            growth=0,
            index_growth=0,
            index_before=idx,
            index_after=idx,
            scale_factor=1,
            available_before_fen=0,
            budget_fen=0,
            requested_fen=0,
            cutoff_at=datetime.now(UTC),
            cutoff_iso="",
            max_lot_id=0,
        )
    await set_pool("consumer", release_count=3, index=indexes[3], last_size=10**8)
    await fund(10**12)
    lots = []
    for i, (points, f) in enumerate([(7, 1), (20_001, 2), (333_333, 3), (99_999, 2), (1, 3)]):
        lot = await add_lot(points, holder_id=i)
        await PointLot.filter(id=lot.id).update(first_release_no=f, release_count=4 - f)
        lots.append((lot, f))
    await grow("consumer", policy, 37)
    rel = (await release_at("consumer", START + timedelta(days=10), policy)).release
    assert rel is not None and rel.release_no == 4
    i_k = Decimal(rel.index_after)
    assert i_k == rules.next_index(Decimal(indexes[3]), 4, rel.index_growth)
    # then each lot got exactly floor(P x 0.5% x I_k / I_f), computed in Python
    for lot, f in lots:
        (pay,) = await payments_of(lot)
        assert pay.paid_units == rules.lot_units(lot.points, 50, i_k, Decimal(indexes[f]))
