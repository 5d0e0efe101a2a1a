"""The release engine (SPEC §4): golden schedule, trigger rules, cap, expiry, split,
subsidy, cohort bonus, solvency, safety valves, crash-and-rerun, one worker per pool."""

from __future__ import annotations

import csv
import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.ledger import Post, acct, balance_of, post
from app.domain.ledger.verify import verify_ledger
from app.domain.policy import PRESETS_DIR, Policy, parse_policy
from app.domain.releases import evaluate_pool, get_pool
from app.models.orders import PointLot
from app.models.releases import Pool, Release, ReleasePayment

GOLDEN = "/work/shared/golden/release_schedule_200pts_15pct.csv"
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
        activated_at=activated or datetime.now(UTC) - timedelta(seconds=5),
        recruiter_user_id=recruiter,
    )


async def fund(amount_fen: int, pool: str = "consumer") -> None:
    await post(
        "test_funding",
        f"fund:{pool}",
        [Post(acct.WORLD_CNY, acct.pool_available(pool), amount_fen)],
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
    golden = list(csv.DictReader(open(GOLDEN, encoding="utf-8")))
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
