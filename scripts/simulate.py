"""Economic simulator: drives the real release engine through growth scenarios.

    .venv/bin/python scripts/simulate.py [--days 540] [--presets zhongdian wodian pingchuan]

Nothing here re-implements a formula: every day of every scenario, consumption is
turned into funded pools and point lots, and `app.domain.releases.evaluate_pool` (the
engine itself: trigger, working days, index, cap, solvency, valves, cohort bonus) runs
on a throw-away PostgreSQL (an embedded server in a temp dir, app/infra/embedded_pg.py).
Each simulated lot stands for one day's consumers (and one for that day's merchants), so
lot shares below are shares of daily cohorts.

Writes into scripts/out/ (git-ignored): `simulation.csv` (one row per pool and day),
`releases.csv` (one row per release with its inputs), and one PNG per preset:
pool available vs outstanding vouchers, paid per release, share of lots at 5x,
scale factors.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import csv
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "scripts" / "out"
sys.path.insert(0, str(ROOT))
_TMP = tempfile.mkdtemp(prefix="simulate-")
# removed at exit, after the server in it has stopped (atexit runs last-registered first)
atexit.register(shutil.rmtree, _TMP, True)
os.environ["DATABASE_URL"] = f"embedded://{_TMP}/pg"
os.environ["REDIS_URL"] = "memory://"
os.environ.setdefault("LOG_LEVEL", "WARNING")

START = date(2025, 3, 3)
POOLS = ("consumer", "merchant")


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    # pool growth per 10 days wanted on `day` (new points / current size), in percent
    growth_pct: Callable[[int], float]


SCENARIOS = [
    Scenario("steady15", "steady 15% per 10 days", lambda d: 15.0),
    Scenario("steady5", "steady 5% per 10 days", lambda d: 5.0),
    Scenario(
        "boom_stall",
        "boom (25%) for 180 days, then stagnation (0.5%)",
        lambda d: 25.0 if d < 180 else 0.5,
    ),
    Scenario(
        "decline",
        "15% for 120 days, then consumption halves every 60 days",
        lambda d: 15.0 if d < 120 else 15.0 * 0.5 ** ((d - 120) / 60),
    ),
]


async def reset_db() -> None:
    from tortoise import Tortoise, connections

    from app.domain.ledger.core import forget_account_ids

    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    existing = {r["tablename"] for r in rows}
    tables = [m._meta.db_table for app in Tortoise.apps.values() for m in app.values()]
    tables = [t for t in tables if t in existing]
    forget_account_ids()  # the ids the ledger remembers are about to be handed out again
    await conn.execute_script(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    )


def pool_share_bps(policy) -> int:
    """The part of D left for the pools at the default discount (SPEC §3.3)."""
    d = policy.merchant.discount_default_bps
    s = policy.settlement
    invite = sum(s.invite_rates_bps) * 10_000 // d
    bind = (
        s.bind_rate_bps
        if policy.order.points_basis == "discount"
        else (s.bind_rate_bps * 10_000 // d)
    )
    return 10_000 - s.platform_fee_bps - invite - bind


async def run_scenario(preset: str, sc: Scenario, days: int, rows: list, rels: list) -> None:
    from app.domain.ledger import Entry, Post, acct, balance_of, post
    from app.domain.policy import load_policy
    from app.domain.releases import evaluate_pool, get_pool, pool_size
    from app.models.merchants import Merchant
    from app.models.orders import Order, PointLot
    from app.models.releases import Release
    from app.models.users import User

    policy = load_policy(preset)
    await reset_db()
    for name in POOLS:
        await get_pool(name, START)
    # One consumer and one merchant stand for everybody: one paid order a day.
    consumer = await User.create(nickname="everyone")
    merchant = await Merchant.create(
        owner=await User.create(nickname="owner"),
        name="all stores",
        category="all",
        lat=0,
        lng=0,
        region_code="310101",
        discount_bps=policy.merchant.discount_default_bps,
    )
    holder = {"consumer": consumer.id, "merchant": merchant.id}
    d_bps = policy.merchant.discount_default_bps
    share = pool_share_bps(policy)
    for day in range(days):
        at = START + timedelta(days=day)
        # today's consumption: enough new points for the scenario's growth rate
        size = await pool_size("consumer", policy)
        daily = (1 + sc.growth_pct(day) / 100) ** 0.1 - 1
        points = max(int(size * daily), 0)  # centi-points for the consumer lot
        if points > 0:
            # points = basis * C / A: basis D (discount) or A (amount)
            amount = points * 10_000 // d_bps if policy.order.points_basis == "discount" else points
            discount = amount * d_bps // 10_000
            to_pools = discount * share // 10_000
            ts = datetime(at.year, at.month, at.day, 1, tzinfo=UTC)
            await Order.create(
                consumer=consumer,
                merchant=merchant,
                idempotency_key=f"d{day}",
                amount_fen=amount,
                cash_fen=amount,
                discount_bps=d_bps,
                discount_fen=discount,
                channel="sim",
                status="paid",
                policy=preset,
                paid_at=ts,
            )
            for name in POOLS:  # equal points to both pools -> equal contribution
                await PointLot.create(
                    holder_kind=name,
                    holder_id=holder[name],
                    pool=name,
                    points=points,
                    status="active",
                    activate_on=at,
                    activated_at=ts,
                )
                await post(
                    Entry(
                        "pool_contribution",
                        f"sim:{day}",
                        [Post(acct.WORLD_CNY, acct.pool_available(name), to_pools // 2)],
                    )
                )
        for name in POOLS:
            ev = await evaluate_pool(name, at=at, policy=policy)
            if ev.release is not None:
                r = ev.release
                rels.append(
                    {
                        "preset": preset,
                        "scenario": sc.name,
                        "pool": name,
                        "release_no": r.release_no,
                        "run_on": r.run_on,
                        "trigger": r.trigger,
                        "growth": f"{r.growth:f}",
                        "index_after": r.index_after[:22],
                        "scale_factor": f"{r.scale_factor:f}",
                        "requested_fen": r.requested_fen,
                        "budget_fen": r.budget_fen,
                        "paid_fen": r.paid_fen,
                        "cohort_bonus_fen": r.cohort_bonus_fen,
                        "lots_exited": r.lots_exited,
                        "lots_expired": r.lots_expired,
                    }
                )
        if day % 5 == 0 or day == days - 1:
            lots = await PointLot.filter(pool="consumer").count()
            exited = await PointLot.filter(pool="consumer", status="exited").count()
            expired = await PointLot.filter(pool="consumer", status="expired").count()
            last = await Release.filter(pool__name="consumer").order_by("-release_no").first()
            rows.append(
                {
                    "preset": preset,
                    "scenario": sc.name,
                    "day": day,
                    "pool_size": await pool_size("consumer", policy),
                    "available_fen": await balance_of(acct.pool_available("consumer")),
                    "outstanding_vouchers_fen": await balance_of(acct.VOUCHER_RESERVE)
                    + await balance_of(acct.SHOPPING_POINTS_RESERVE),
                    "lots": lots,
                    "lots_at_5x": exited,
                    "lots_expired": expired,
                    "share_at_5x": round(exited / lots, 4) if lots else 0,
                    "releases": last.release_no if last else 0,
                    "last_scale": f"{last.scale_factor:f}" if last else "1",
                }
            )


def chart(preset: str, rows: list, rels: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    fig.suptitle(f"{preset}: consumer pool under four growth scenarios (real engine)")
    for sc in SCENARIOS:
        rs = [r for r in rows if r["preset"] == preset and r["scenario"] == sc.name]
        es = [
            r
            for r in rels
            if r["preset"] == preset and r["scenario"] == sc.name and r["pool"] == "consumer"
        ]
        days = [r["day"] for r in rs]
        line = axes[0][0].plot(days, [r["available_fen"] / 100 for r in rs], label=sc.label)[0]
        axes[0][0].plot(
            days, [r["outstanding_vouchers_fen"] / 100 for r in rs], ls="--", color=line.get_color()
        )
        axes[0][1].plot(
            [(e["run_on"] - START).days for e in es],
            [e["paid_fen"] / 100 for e in es],
            marker=".",
            color=line.get_color(),
        )
        axes[1][0].plot(days, [100 * r["share_at_5x"] for r in rs], color=line.get_color())
        axes[1][1].step(
            [(e["run_on"] - START).days for e in es],
            [float(e["scale_factor"]) for e in es],
            where="post",
            color=line.get_color(),
        )
    axes[0][0].set_title("pool available (solid) vs outstanding vouchers (dashed), yuan")
    axes[0][0].set_yscale("symlog")
    axes[0][1].set_title("paid per release, yuan")
    axes[0][1].set_yscale("symlog")
    axes[1][0].set_title("share of lots (daily cohorts) that reached 5x, %")
    axes[1][1].set_title("scale factor s of each release (1 = paid in full)")
    axes[1][1].set_ylim(-0.05, 1.05)
    for ax in axes.flat:
        ax.set_xlabel("day")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


async def main(days: int, presets: list[str]) -> None:
    from app.infra.db import close_db, init_db, migrate

    await migrate()
    await close_db()
    await init_db()
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    rels: list[dict] = []
    try:
        for preset in presets:
            for sc in SCENARIOS:
                await run_scenario(preset, sc, days, rows, rels)
                last = rows[-1]
                print(
                    f"{preset:10} {sc.name:11} releases={last['releases']:3} "
                    f"at5x={last['share_at_5x']:.1%} available={last['available_fen'] / 100:,.0f} "
                    f"vouchers={last['outstanding_vouchers_fen'] / 100:,.0f} "
                    f"last_scale={last['last_scale']}",
                    flush=True,
                )
            chart(preset, rows, rels, OUT / f"simulation_{preset}.png")
    finally:
        await close_db()
    for name, data in (("simulation.csv", rows), ("releases.csv", rels)):
        if data:
            with (OUT / name).open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=list(data[0]))
                w.writeheader()
                w.writerows(data)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=540)
    ap.add_argument("--presets", nargs="+", default=["zhongdian", "wodian", "pingchuan"])
    ns = ap.parse_args()
    asyncio.run(main(ns.days, ns.presets))
