"""The plan phase: the pool's state (size, funds, active points) and release k's inputs,
computed in one transaction under the pool row's lock and, with `write`, recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from app.domain.ledger import acct
from app.domain.policy import BPS, Policy
from app.domain.releases import rules
from app.domain.releases.engine.lock import TZ, check_pool, today
from app.domain.releases.engine.sql import eligible_where, fetch, formula_select, ts_cmp
from app.models.releases import Pool, Release, ReleaseStatus

# ------------------------------------------------------------------ pool state


async def pool_size(name: str, policy: Policy, conn: Any = None) -> int:
    """S = virtual start + every point ever made active in the pool."""
    conn = conn or connections.get("default")
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(points), 0) AS s FROM point_lots "
        "WHERE pool = @pool AND activated_at IS NOT NULL",
        {"pool": name},
    )
    return policy.pools[name].virtual_start_points + int(rows[0]["s"])  # type: ignore[index]


async def pool_available(name: str, conn: Any = None) -> int:
    conn = conn or connections.get("default")
    a = acct.pool_available(name)
    rows = await fetch(
        conn,
        "SELECT balance FROM ledger_accounts WHERE name = @n AND asset = @a",
        {"n": a.name, "a": a.asset.value},
    )
    return int(rows[0]["balance"]) if rows else 0


async def active_points(name: str, conn: Any = None) -> int:
    conn = conn or connections.get("default")
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(points), 0) AS s FROM point_lots "
        "WHERE pool = @pool AND status = 'active'",
        {"pool": name},
    )
    return int(rows[0]["s"])


async def get_pool(name: str, at: date | None = None) -> Pool:
    """The pool row, created on first use (its interval counts from that day)."""
    check_pool(name)
    pool = await Pool.get_or_none(name=name)
    if pool is None:
        await Pool.bulk_create(
            [Pool(name=name, index="1", anchor_on=at or today())],
            ignore_conflicts=True,
        )
        pool = await Pool.get(name=name)
    return pool


# ------------------------------------------------------------------ plan


@dataclass
class Plan:
    """The inputs of a release (what the plan phase writes, or what a dry run shows)."""

    pool: str
    release_no: int
    trigger: str
    condition_on: date
    run_on: date
    size: int
    prev_size: int
    growth: Decimal
    index_growth: Decimal
    index_before: Decimal
    index_after: Decimal
    available_before_fen: int
    budget_fen: int
    requested_fen: int
    scale_factor: Decimal
    eligible_lots: int
    valves: dict[str, Any] = field(default_factory=dict)


def base_params(rel_or_plan: dict[str, Any], policy: Policy) -> dict[str, Any]:
    rp = policy.release
    return {
        "rate": rp.base_rate_bps,
        "mult": rp.exit_multiple,
        "max_rel": rp.max_releases,
        "pay_rem": 1 if rp.on_max_releases == "pay_remainder" else 0,
        **rel_or_plan,
    }


async def _consumption_since(conn: Any, since: datetime | None, until: datetime) -> int:
    where = "o.paid_at IS NOT NULL AND " + ts_cmp("o.paid_at", "<=", "until")
    params: dict[str, Any] = {"until": until}
    if since is not None:
        where += " AND " + ts_cmp("o.paid_at", ">", "since")
        params["since"] = since
    rows = await fetch(
        conn,
        f"SELECT COALESCE(SUM(o.amount_fen - o.refunded_fen), 0) AS c FROM orders o WHERE {where}",
        params,
    )
    return int(rows[0]["c"])


async def plan_release(
    name: str,
    at: date,
    policy: Policy,
    trigger: str,
    condition_on: date,
    *,
    write: bool,
    conn: Any = None,
) -> Plan:
    """Compute (and with `write`, record) release k of the pool. Inside `conn` if given."""
    if conn is None:
        async with in_transaction() as tx:
            return await plan_release(name, at, policy, trigger, condition_on, write=write, conn=tx)
    rp = policy.release
    q = Pool.filter(name=name).using_db(conn)
    pool = await (q.select_for_update() if write else q).get()
    k = pool.release_count + 1
    size = await pool_size(name, policy, conn)
    prev = pool.last_size or policy.pools[name].virtual_start_points  # type: ignore[index]
    g = rules.growth(size, prev)
    gi = rules.index_growth(g, rp)
    index_before = Decimal(pool.index)
    index_after = rules.next_index(index_before, k, gi)
    available = await pool_available(name, conn)
    # Lots active (and orders paid) by the end of the release day take part; a run
    # "as of" a past day (backfill, simulation) does not see what came after it.
    end_of_day = datetime.combine(at + timedelta(days=1), datetime.min.time(), TZ)
    cutoff = min(datetime.now(UTC), end_of_day.astimezone(UTC) - timedelta(microseconds=1))
    max_rows = await fetch(
        conn, "SELECT COALESCE(MAX(id), 0) AS m FROM point_lots WHERE pool = @pool", {"pool": name}
    )
    max_id = int(max_rows[0]["m"])
    params = base_params(
        {
            "pool": name,
            "pool_id": pool.id,
            "k": k,
            "ik": index_after,
            "cutoff": cutoff,
            "max_id": max_id,
            "sub": rp.recruit_subsidy_bps,
        },
        policy,
    )
    agg = await fetch(
        conn,
        "SELECT COUNT(*) AS n, COALESCE(SUM(x.formula), 0) AS formula, "
        "COALESCE(SUM(CASE WHEN x.recruiter_user_id IS NOT NULL "
        "THEN x.formula * @sub / 10000 ELSE 0 END), 0) AS subsidy "
        f"FROM ({formula_select(False)}) x",
        params,
    )
    eligible = int(agg[0]["n"])
    requested = int(agg[0]["formula"]) + int(agg[0]["subsidy"])
    valves: dict[str, Any] = {}
    budget = available * rp.payout_cap_bps // BPS
    valves["payout_cap"] = {"cap_bps": rp.payout_cap_bps, "limit_fen": budget}
    cb = rp.cohort_bonus
    if cb.enabled and k == cb.at_release:
        cohorts = await fetch(
            conn,
            "SELECT COUNT(DISTINCT l.first_release_no) AS n FROM point_lots l "
            f"WHERE {eligible_where(False)} AND l.first_release_no BETWEEN 1 AND @nc",
            {**params, "nc": cb.cohorts},
        )
        requested += int(cohorts[0]["n"]) * (available * cb.per_cohort_bps // BPS)
    if rp.release_cap_of_new_consumption_bps is not None:
        consumed = await _consumption_since(conn, pool.last_release_at, cutoff)
        limit = consumed * rp.release_cap_of_new_consumption_bps // BPS
        valves["new_consumption"] = {
            "cap_bps": rp.release_cap_of_new_consumption_bps,
            "consumption_fen": consumed,
            "limit_fen": limit,
            "bound": limit < min(budget, requested),
        }
        budget = min(budget, limit)
    valves["payout_cap"]["bound"] = valves["payout_cap"]["limit_fen"] < requested and (
        valves["payout_cap"]["limit_fen"] <= budget
    )
    s = rules.scale_factor(requested, budget)
    plan = Plan(
        pool=name,
        release_no=k,
        trigger=trigger,
        condition_on=condition_on,
        run_on=at,
        size=size,
        prev_size=prev,
        growth=g,
        index_growth=gi,
        index_before=index_before,
        index_after=index_after,
        available_before_fen=available,
        budget_fen=budget,
        requested_fen=requested,
        scale_factor=s,
        eligible_lots=eligible,
        valves=valves,
    )
    if not write:
        return plan
    if rp.holder_monthly_cap_bps is not None:
        valves["holder_monthly"] = {
            "cap_bps": rp.holder_monthly_cap_bps,
            "lots_limited": 0,
            "units_withheld": 0,
            "bound": False,
        }
    rel = await Release.create(
        pool_id=pool.id,
        release_no=k,
        status=ReleaseStatus.RUNNING,
        phase="regular",
        policy=policy.name,
        trigger=trigger,
        condition_on=condition_on,
        run_on=at,
        size=size,
        prev_size=prev,
        growth=g,
        index_growth=gi,
        index_before=str(index_before),
        index_after=str(index_after),
        scale_factor=s,
        available_before_fen=available,
        budget_fen=budget,
        requested_fen=requested,
        valves=valves,
        params={"release": rp.model_dump(), "eligible_lots": eligible},
        cutoff_at=cutoff,
        cutoff_iso=str(params["cutoff"]),
        max_lot_id=max_id,
        cursor_lot_id=0,
        using_db=conn,
    )
    await (
        Pool.filter(id=pool.id)
        .using_db(conn)
        .update(
            release_count=k,
            index=str(index_after),
            last_size=size,
            anchor_on=at,
            last_release_at=cutoff,
            last_scale=s,
            due_on=None,
            due_trigger=None,
            condition_on=None,
        )
    )
    plan.valves = valves
    setattr(plan, "release_id", rel.id)  # noqa: B010
    return plan


async def plan_release_id(
    name: str, at: date, policy: Policy, trigger: str, condition_on: date
) -> int:
    plan = await plan_release(name, at, policy, trigger, condition_on, write=True)
    return int(plan.release_id)  # type: ignore[attr-defined]
