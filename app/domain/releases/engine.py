"""The set-based release engine (SPEC §4).

A release of pool X number k runs in phases, each a sequence of short transactions:

* **plan** (one transaction): the pool row is locked, the release row is written with
  every input (size S, previous size S0, growth g, index before/after, available funds,
  budget, what the formula asks for, scale factor s, safety valves) and the pool moves
  to its new state. The unique (pool, release_no) makes a release happen once.
* **regular** batches, keyed on lot id: per batch, in one transaction, the payments of
  the batch's eligible lots (formula, cap, last-release rule, scale, holder cap, split,
  subsidy) and the lots' new state — on PostgreSQL one statement (`UPDATE point_lots …
  FROM (formula) … RETURNING` feeding `INSERT INTO release_payments`, which returns the
  batch's totals), on SQLite `INSERT … SELECT` then `UPDATE … FROM` —, the batch's
  ledger entry set-based (`ledger.bulk.post_bulk`) and the release's cursor.
  A crash rolls back the open batch; a rerun resumes at the cursor. The unique
  (release, lot, kind) on payments makes a double payment impossible anyway.
* **bonus** batches (cohort bonus at release 36, 众店), the same way.
* **done**.

A Redis lock (SET NX PX + token) keeps two workers off the same pool; the database
locks (pool row, release row, cursor check) keep it right even without Redis.
Memory does not grow with the number of lots: nothing is loaded per lot.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from app.domain.ledger import acct
from app.domain.ledger.bulk import dialect_of, execute, fetch, post_bulk
from app.domain.policy import BPS, Policy, get_policy
from app.domain.releases import rules
from app.domain.releases.events import write_release_paid
from app.infra.errors import DomainError, error_codes
from app.infra.redis import get_redis
from app.models.releases import Pool, Release, ReleaseStatus

ReleaseErrorCode = error_codes("ReleaseErrorCode", "LOCKED", "UNKNOWN_POOL")

POOLS = ("consumer", "merchant")
TZ = ZoneInfo("Asia/Shanghai")
LOCK_TTL_MS = 10 * 60 * 1000


def today() -> date:
    return datetime.now(TZ).date()


def _check_pool(name: str) -> None:
    if name not in POOLS:
        raise DomainError(ReleaseErrorCode.UNKNOWN_POOL, f"no pool {name!r}", "pool")


# ------------------------------------------------------------------ Redis lock


class PoolLock:
    """SET NX PX with a random token; released (and extended) only by its holder."""

    def __init__(self, pool: str, ttl_ms: int = LOCK_TTL_MS) -> None:
        self.key = f"lock:release:{pool}"
        self.token = secrets.token_hex(16)
        self.ttl_ms = ttl_ms

    async def acquire(self) -> bool:
        return bool(await get_redis().set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def _if_mine(self, action: str) -> bool:
        # Compare-and-act in a WATCH/MULTI transaction (works on Redis and the stand-in).
        async with get_redis().pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.key)
                if await pipe.get(self.key) != self.token:
                    await pipe.unwatch()
                    return False
                pipe.multi()
                if action == "release":
                    pipe.delete(self.key)
                else:
                    pipe.pexpire(self.key, self.ttl_ms)
                await pipe.execute()
                return True
            except Exception:  # noqa: BLE001 - WatchError: someone else changed it
                return False

    async def extend(self) -> bool:
        return await self._if_mine("extend")

    async def release(self) -> bool:
        return await self._if_mine("release")


@asynccontextmanager
async def pool_lock(pool: str) -> AsyncIterator[PoolLock]:
    lock = PoolLock(pool)
    if not await lock.acquire():
        raise DomainError(
            ReleaseErrorCode.LOCKED, f"a release of the {pool} pool is already running", "pool"
        )
    try:
        yield lock
    finally:
        await lock.release()


# ------------------------------------------------------------------ pool state


async def pool_size(name: str, policy: Policy, conn: Any = None) -> int:
    """S = virtual start + every point ever made active in the pool."""
    from tortoise import connections

    conn = conn or connections.get("default")
    rows = await fetch(
        conn,
        "SELECT COALESCE(SUM(points), 0) AS s FROM point_lots "
        "WHERE pool = @pool AND activated_at IS NOT NULL",
        {"pool": name},
    )
    return policy.pools[name].virtual_start_points + int(rows[0]["s"])  # type: ignore[index]


async def pool_available(name: str, conn: Any = None) -> int:
    from tortoise import connections

    conn = conn or connections.get("default")
    a = acct.pool_available(name)
    rows = await fetch(
        conn,
        "SELECT balance FROM ledger_accounts WHERE name = @n AND asset = @a",
        {"n": a.name, "a": a.asset.value},
    )
    return int(rows[0]["balance"]) if rows else 0


async def active_points(name: str, conn: Any = None) -> int:
    from tortoise import connections

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
    _check_pool(name)
    pool = await Pool.get_or_none(name=name)
    if pool is None:
        await Pool.bulk_create(
            [Pool(name=name, index="1", anchor_on=at or today())],
            ignore_conflicts=True,
        )
        pool = await Pool.get(name=name)
    return pool


# ------------------------------------------------------------------ evaluation


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


@dataclass
class Evaluation:
    pool: str
    at: date
    size: int
    prev_size: int
    growth: Decimal
    decision: rules.TriggerDecision | None
    due_on: date | None
    release: Release | None = None  # a release that ran (or finished) now
    plan: Plan | None = None  # what would run (dry run) / what ran
    note: str = ""


async def evaluate_pool(
    name: str,
    *,
    at: date | None = None,
    dry_run: bool = False,
    policy: Policy | None = None,
    max_batches: int | None = None,
) -> Evaluation:
    """One evaluation of a pool on day `at` (default today, Asia/Shanghai).

    Finishes an interrupted release first. Then, if a release is due (its condition was
    met and `at` is on or after the next working day), runs it; otherwise checks the
    trigger and, when met, schedules the release on the next working day.
    With `dry_run` nothing is written and the plan of the release is returned.
    """
    _check_pool(name)
    policy = policy or get_policy()
    at = at or today()
    if dry_run:
        return await _evaluate(name, at, policy, dry_run=True, max_batches=None)
    async with pool_lock(name) as lock:
        return await _evaluate(name, at, policy, dry_run=False, max_batches=max_batches, lock=lock)


async def _evaluate(
    name: str,
    at: date,
    policy: Policy,
    *,
    dry_run: bool,
    max_batches: int | None,
    lock: PoolLock | None = None,
) -> Evaluation:
    pool = await get_pool(name, at)
    running = await Release.filter(pool_id=pool.id, status=ReleaseStatus.RUNNING).first()
    prev = pool.last_size or policy.pools[name].virtual_start_points  # type: ignore[index]
    due = pool.due_on is not None and at >= pool.due_on
    if running is None and due and not dry_run:
        # The plan measures S itself, under the pool's lock (one scan of the lots, not two)
        trigger, cond = pool.due_trigger or "growth", pool.condition_on or pool.due_on or at
        rel_id = await plan_release_id(name, at, policy, trigger, cond)
        rel = await run_batches(rel_id, policy, max_batches=max_batches, lock=lock)
        size, prev, g = int(rel.size), int(rel.prev_size), Decimal(rel.growth)
        return Evaluation(name, at, size, prev, g, None, None, rel, None, "released")
    size = await pool_size(name, policy)
    g = rules.growth(size, prev)
    if running is not None:
        if dry_run:
            return Evaluation(name, at, size, prev, g, None, None, running, None, "resumable")
        rel = await run_batches(running.id, policy, max_batches=max_batches, lock=lock)
        return Evaluation(name, at, size, prev, g, None, None, rel, None, "resumed")
    if due:  # a dry run (a real run returned above)
        trigger, cond = pool.due_trigger or "growth", pool.condition_on or pool.due_on or at
        plan = await plan_release(name, at, policy, trigger, cond, write=False)
        return Evaluation(name, at, size, prev, g, None, pool.due_on, None, plan, "due")
    if pool.due_on is not None:
        return Evaluation(name, at, size, prev, g, None, pool.due_on, note="scheduled")
    state = rules.TriggerState(pool.release_count, pool.anchor_on or at, prev)
    decision = rules.evaluate_trigger(state, size, at, policy.release)
    if not decision.met:
        return Evaluation(name, at, size, prev, g, decision, None, note="not due")
    if not dry_run:
        await Pool.filter(id=pool.id, due_on=None).update(
            due_on=decision.due_on,
            due_trigger=decision.trigger,
            condition_on=decision.condition_on,
        )
        if (
            decision.due_on is not None and decision.due_on <= at
        ):  # catching up (a run by hand, a worker that was down)
            return await _evaluate(
                name, at, policy, dry_run=False, max_batches=max_batches, lock=lock
            )
    note = "would schedule" if dry_run else "scheduled"
    return Evaluation(name, at, size, prev, g, decision, decision.due_on, note=note)


# ------------------------------------------------------------------ SQL pieces


def _fn(dialect: str) -> dict[str, str]:
    pg = dialect == "postgres"
    return {"least": "LEAST" if pg else "MIN", "greatest": "GREATEST" if pg else "MAX"}


def _units_sql(dialect: str) -> str:
    """floor(P * base_rate * I_k / I_f): exact integer division on both databases."""
    if dialect == "postgres":
        return (
            # the same exact products, grouped so that the per-release factor (rate * I_k)
            # and the per-cohort divisor (I_f * 10000) are computed once, not per lot
            "div(l.points::numeric * (@rate!numeric * @ik!numeric), "
            "COALESCE(rf.den, @ik!numeric * 10000))::bigint"
        )
    return "release_units(l.points, @rate, @ik, COALESCE(rf.idx, @ik))"


def _scale_sql(dialect: str, expr: str) -> str:
    if dialect == "postgres":
        return f"div(({expr})::numeric * @s_int!numeric, @s_one!numeric)::bigint"
    return f"scale_units({expr}, @s_int, @s_one)"


def _activated_sql(dialect: str) -> str:
    if dialect == "postgres":
        return "l.activated_at <= @cutoff!timestamptz"
    return "julianday(l.activated_at) <= julianday(@cutoff)"


def _eligible_where(dialect: str, ranged: bool) -> str:
    w = (
        "l.pool = @pool AND l.status = 'active' AND l.activated_at IS NOT NULL "
        f"AND {_activated_sql(dialect)} AND l.id <= @max_id"
    )
    if ranged:
        w += " AND l.id > @lo AND l.id <= @hi"
    return w


def _formula_select(dialect: str, ranged: bool) -> str:
    """Per eligible lot: formula units (cap and last-release rule applied)."""
    f = _fn(dialect)
    cap_left = "(@mult * l.points - l.released_units)"
    last = "(l.release_count + 1 >= @max_rel)"
    formula = (
        f"CASE WHEN {last} AND @pay_rem = 1 THEN {cap_left} "
        f"ELSE {f['least']}({_units_sql(dialect)}, {cap_left}) END"
    )
    idx = "CAST(index_after AS NUMERIC)" if dialect == "postgres" else "index_after"
    den = f", {idx} * 10000 AS den" if dialect == "postgres" else ""
    return (
        "SELECT l.id, l.holder_kind, l.holder_id, l.points, l.released_units, "
        "l.release_count, l.recruiter_user_id, COALESCE(l.first_release_no, @k) AS f, "
        f"{f['greatest']}({formula}, 0) AS formula "
        "FROM point_lots l LEFT JOIN "
        f"(SELECT release_no, {idx} AS idx{den} FROM releases WHERE pool_id = @pool_id) rf "
        "ON rf.release_no = l.first_release_no "
        f"WHERE {_eligible_where(dialect, ranged)}"
    )


def _month_bounds(run_on: date) -> tuple[datetime, datetime]:
    start = datetime(run_on.year, run_on.month, 1, tzinfo=TZ)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


def _ts(dialect: str, value: datetime) -> Any:
    return value if dialect == "postgres" else value.astimezone(UTC).isoformat(" ")


def _ts_cmp(dialect: str, col: str, op: str, param: str) -> str:
    if dialect == "postgres":
        return f"{col} {op} @{param}!timestamptz"
    return f"julianday({col}) {op} julianday(@{param})"


async def _register_sqlite(conn: Any) -> None:
    """The exact integer formulas as SQL functions on SQLite (PostgreSQL uses div())."""
    if dialect_of(conn) != "sqlite":
        return
    raw = getattr(conn, "_connection", None)
    if raw is None:
        return

    def release_units(points: int, rate: int, ik: str, i_f: str) -> int:
        return rules.lot_units(int(points), int(rate), Decimal(str(ik)), Decimal(str(i_f)))

    def scale_units(units: int, s_int: str, s_one: str) -> int:
        return int(units) * int(s_int) // int(s_one)

    await raw.create_function("release_units", 4, release_units, deterministic=True)
    await raw.create_function("scale_units", 3, scale_units, deterministic=True)


# ------------------------------------------------------------------ plan


def _base_params(rel_or_plan: dict[str, Any], policy: Policy) -> dict[str, Any]:
    rp = policy.release
    return {
        "rate": rp.base_rate_bps,
        "mult": rp.exit_multiple,
        "max_rel": rp.max_releases,
        "pay_rem": 1 if rp.on_max_releases == "pay_remainder" else 0,
        **rel_or_plan,
    }


async def _consumption_since(conn: Any, since: datetime | None, until: datetime) -> int:
    dialect = dialect_of(conn)
    where = "o.paid_at IS NOT NULL AND " + _ts_cmp(dialect, "o.paid_at", "<=", "until")
    params: dict[str, Any] = {"until": _ts(dialect, until)}
    if since is not None:
        where += " AND " + _ts_cmp(dialect, "o.paid_at", ">", "since")
        params["since"] = _ts(dialect, since)
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
    dialect = dialect_of(conn)
    await _register_sqlite(conn)
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
    params = _base_params(
        {
            "pool": name,
            "pool_id": pool.id,
            "k": k,
            "ik": index_after,
            "cutoff": _ts(dialect, cutoff),
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
        f"FROM ({_formula_select(dialect, False)}) x",
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
            f"WHERE {_eligible_where(dialect, False)} AND l.first_release_no BETWEEN 1 AND @nc",
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


# ------------------------------------------------------------------ batches


def _payments_insert_sql(
    dialect: str, holder_cap: bool, scaled: bool, limited: bool = False
) -> str:
    """The payments of a batch (lots `lo < id <= hi`; with `limited`, PostgreSQL only,
    the first `@batch` eligible lots after `lo`, the statement returning the last id)."""
    f = _fn(dialect)
    paid = _scale_sql(dialect, "x.formula") if scaled else "x.formula"
    if holder_cap:
        # Greedy per holder in lot-id order: a lot gets what is left of the holder's
        # monthly cap after the lots before it (this and earlier batches, releases).
        paid = (
            f"{f['least']}({paid}, {f['greatest']}(0, h.cap_left - COALESCE(SUM({paid}) OVER ("
            "PARTITION BY x.holder_kind, x.holder_id ORDER BY x.id "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))"
        )
        # Only the holders of this batch: their month's consumption and what releases
        # already paid them this month, looked up per holder through indexes.
        month = (
            f"o.paid_at IS NOT NULL AND {_ts_cmp(dialect, 'o.paid_at', '>=', 'm0')} "
            f"AND {_ts_cmp(dialect, 'o.paid_at', '<', 'm1')}"
        )
        holder_join = (
            " LEFT JOIN (SELECT hh.holder_kind, hh.holder_id, "
            "(CASE WHEN hh.holder_kind = 'consumer' THEN (SELECT COALESCE(SUM(o.amount_fen "
            f"- o.refunded_fen), 0) FROM orders o WHERE o.consumer_id = hh.holder_id AND {month}) "
            "ELSE (SELECT COALESCE(SUM(o.amount_fen - o.refunded_fen), 0) FROM orders o "
            f"WHERE o.merchant_id = hh.holder_id AND {month}) END) * @hcap / 10000 "
            "- (SELECT COALESCE(SUM(p.paid_units), 0) FROM release_payments p "
            "JOIN releases r ON r.id = p.release_id WHERE p.holder_kind = hh.holder_kind "
            "AND p.holder_id = hh.holder_id AND r.pool_id = @pool_id "
            "AND r.run_on >= @d0!date AND r.run_on < @d1!date) AS cap_left "
            "FROM (SELECT DISTINCT l.holder_kind, l.holder_id FROM point_lots l "
            f"WHERE {_eligible_where(dialect, True)}) hh) h "
            "ON h.holder_kind = x.holder_kind AND h.holder_id = x.holder_id"
        )
    else:
        holder_join = ""
    y = f"SELECT x.*, {paid} AS paid FROM ({_formula_select(dialect, True)}) x{holder_join}"
    if limited:
        y += " ORDER BY x.id LIMIT @batch"
    status_after = (
        "CASE WHEN y.released_units + y.paid >= @mult * y.points THEN 'exited' "
        "WHEN y.release_count + 1 >= @max_rel THEN 'expired' ELSE 'active' END"
    )
    if dialect == "postgres":
        # One statement: the lots of the batch move (UPDATE … FROM the formula, RETURNING
        # what each was paid) and their payments are inserted from what it returns. The
        # lot is read once, and a payment row exists exactly for each lot that moved; a
        # payment already there (unique release, lot, kind) fails the statement whole.
        return (
            "WITH y AS (UPDATE point_lots SET "
            "released_units = point_lots.released_units + y.paid, "
            "release_count = point_lots.release_count + 1, "
            f"status = {status_after}, "
            "first_release_no = COALESCE(point_lots.first_release_no, @k), "
            "first_index = COALESCE(point_lots.first_index, @ik18!numeric) "
            f"FROM ({y}) y WHERE point_lots.id = y.id "
            "AND point_lots.id > @lo AND point_lots.id <= @hi "
            "RETURNING y.*, point_lots.status AS status_after), "
            "ins AS (" + _PAYMENTS_INSERT + "y.status_after FROM y RETURNING *) "
            f"SELECT {_BATCH_TOTALS}, COUNT(*) AS lots, MAX(lot_id) AS last FROM ins"
        )
    return f"{_PAYMENTS_INSERT}{status_after} FROM ({y}) y"


_PAYMENTS_INSERT = (
    "INSERT INTO release_payments (release_id, lot_id, kind, holder_kind, holder_id, "
    "points, first_release_no, formula_units, paid_units, voucher_units, shopping_units, "
    "recruiter_user_id, subsidy_units, status_after) "
    "SELECT @rid, y.id, 'regular', y.holder_kind, y.holder_id, y.points, y.f, y.formula, "
    "y.paid, y.paid * @vs / 10000, y.paid - y.paid * @vs / 10000, y.recruiter_user_id, "
    "CASE WHEN y.recruiter_user_id IS NULL THEN 0 ELSE y.paid * @sub / 10000 END, "
)


_LEDGER_SELECT = (
    "SELECT 0 AS ord, @pool_acct AS src, 'reserve:voucher' AS dst, 'CNY' AS asset, "
    " SUM(p.voucher_units + p.subsidy_units) AS amount FROM release_payments p {w} "
    "UNION ALL SELECT 1, @pool_acct, 'reserve:shopping_points', 'CNY', SUM(p.shopping_units) "
    " FROM release_payments p {w} "
    "UNION ALL SELECT 2, 'issuer:voucher', p.holder_kind || ':' || p.holder_id || ':voucher', "
    " 'VOUCHER', SUM(p.voucher_units) FROM release_payments p {w} "
    " GROUP BY p.holder_kind, p.holder_id "
    "UNION ALL SELECT 3, 'issuer:shopping_points', "
    " p.holder_kind || ':' || p.holder_id || ':shopping_points', 'SHOPPING_POINTS', "
    " SUM(p.shopping_units) FROM release_payments p {w} GROUP BY p.holder_kind, p.holder_id "
    "UNION ALL SELECT 4, 'issuer:voucher', 'consumer:' || p.recruiter_user_id || ':voucher', "
    " 'VOUCHER', SUM(p.subsidy_units) FROM release_payments p {w} "
    " AND p.recruiter_user_id IS NOT NULL GROUP BY p.recruiter_user_id"
)


# PostgreSQL: the same rows from one pass over the batch's payments (grouped per holder
# and recruiter on integer keys first, the few thousand groups then summed per posting).
_LEDGER_SELECT_PG = (
    "WITH g AS MATERIALIZED (SELECT p.holder_id AS hid, p.holder_kind AS hk, "
    " p.recruiter_user_id AS rec, SUM(p.voucher_units) AS vu, SUM(p.shopping_units) AS su, "
    " SUM(p.subsidy_units) AS sub FROM release_payments p {w} "
    " GROUP BY p.holder_id, p.holder_kind, p.recruiter_user_id) "
    "SELECT 0 AS ord, @pool_acct AS src, 'reserve:voucher' AS dst, 'CNY' AS asset, "
    " SUM(g.vu + g.sub) AS amount FROM g "
    "UNION ALL SELECT 1, @pool_acct, 'reserve:shopping_points', 'CNY', SUM(g.su) FROM g "
    "UNION ALL SELECT 2, 'issuer:voucher', g.hk || ':' || g.hid || ':voucher', 'VOUCHER', "
    " SUM(g.vu) FROM g GROUP BY g.hid, g.hk "
    "UNION ALL SELECT 3, 'issuer:shopping_points', g.hk || ':' || g.hid || ':shopping_points', "
    " 'SHOPPING_POINTS', SUM(g.su) FROM g GROUP BY g.hid, g.hk "
    "UNION ALL SELECT 4, 'issuer:voucher', 'consumer:' || g.rec || ':voucher', 'VOUCHER', "
    " SUM(g.sub) FROM g WHERE g.rec IS NOT NULL GROUP BY g.rec"
)


def _ledger_select(dialect: str) -> str:
    w = "WHERE p.release_id = @rid AND p.kind = @kind AND p.lot_id > @lo AND p.lot_id <= @hi"
    return (_LEDGER_SELECT_PG if dialect == "postgres" else _LEDGER_SELECT).replace("{w}", w)


async def _next_hi(conn: Any, rel: Release, pool: str, lo: int, batch: int, bonus: bool) -> int:
    extra = " AND first_release_no BETWEEN 1 AND @nc" if bonus else ""
    rows = await fetch(
        conn,
        "SELECT id FROM point_lots WHERE pool = @pool AND status = 'active' "
        f"AND id > @lo AND id <= @max_id{extra} ORDER BY id LIMIT 1 OFFSET @off",
        {"pool": pool, "lo": lo, "max_id": rel.max_lot_id, "off": batch - 1, "nc": 10**6},
    )
    return int(rows[0]["id"]) if rows else int(rel.max_lot_id)


async def run_batches(
    release_id: int,
    policy: Policy | None = None,
    *,
    max_batches: int | None = None,
    lock: PoolLock | None = None,
) -> Release:
    """Run (or resume) a planned release to the end, batch by batch."""
    policy = policy or get_policy()
    done = 0
    while True:
        rel = await Release.get(id=release_id).prefetch_related("pool")
        if rel.status == ReleaseStatus.DONE:
            return rel
        if max_batches is not None and done >= max_batches:
            return rel
        if lock is not None:
            await lock.extend()
        await _one_batch(release_id, policy)
        done += 1


async def _one_batch(release_id: int, policy: Policy) -> None:
    rp = policy.release
    async with in_transaction() as conn:
        dialect = dialect_of(conn)
        await _register_sqlite(conn)
        if dialect == "postgres":
            # a batch's lots (RETURNING of the lot update) and its per-holder groups fit
            # in memory instead of spilling to temporary files: per batch, not per N
            await execute(conn, "SET LOCAL work_mem = '64MB'")
            # every batch planned for its own key range (a cached generic plan would
            # not know how many lots the range holds)
            await execute(conn, "SET LOCAL plan_cache_mode = force_custom_plan")
        rel = await Release.filter(id=release_id).using_db(conn).select_for_update().get()
        if rel.status == ReleaseStatus.DONE:
            return
        pool = await Pool.filter(id=rel.pool_id).using_db(conn).get()  # type: ignore[attr-defined]
        name = pool.name
        lo = int(rel.cursor_lot_id)
        s = Decimal(rel.scale_factor)
        params = _base_params(
            {
                "pool": name,
                "pool_id": pool.id,
                "rid": rel.id,
                "k": rel.release_no,
                "ik": Decimal(rel.index_after),
                "cutoff": rel.cutoff_iso if dialect != "postgres" else rel.cutoff_at,
                "max_id": rel.max_lot_id,
                "lo": lo,
                "vs": rp.voucher_share_bps,
                "sub": rp.recruit_subsidy_bps,
                "s_int": rules.scale_int(s),
                "s_one": rules.SCALE_ONE,
                "pool_acct": acct.pool_available(name).name,
            },
            policy,
        )
        totals: dict[str, Any] | None = None
        if rel.phase == "regular":
            if lo >= rel.max_lot_id:
                await _finish_regular(conn, rel, policy)
                return
            holder_cap = rp.holder_monthly_cap_bps is not None
            # PostgreSQL without the holder cap: the statement itself takes the next
            # `batch` eligible lots and says where it stopped; otherwise count them first.
            limited = dialect == "postgres" and not holder_cap
            if limited:
                hi = int(rel.max_lot_id)
                params["batch"] = rp.batch_size
            else:
                hi = await _next_hi(conn, rel, name, lo, rp.batch_size, False)
            params["hi"] = hi
            if holder_cap:
                m0, m1 = _month_bounds(rel.run_on)
                params.update(
                    hcap=rp.holder_monthly_cap_bps,
                    m0=_ts(dialect, m0),
                    m1=_ts(dialect, m1),
                    d0=m0.date(),
                    d1=m1.date(),
                )
                if dialect != "postgres":
                    params["d0"], params["d1"] = str(m0.date()), str(m1.date())
            scaled = s != 1
            ik18 = rules.shown_index(Decimal(rel.index_after))
            params["ik18"] = ik18 if dialect == "postgres" else str(ik18)
            sql = _payments_insert_sql(dialect, holder_cap, scaled, limited)
            if dialect == "postgres":  # the batch's totals come back from the statement
                totals = dict((await fetch(conn, sql, params))[0])
                lots, last = int(totals.pop("lots")), totals.pop("last")
                if limited and lots == rp.batch_size:  # else: no eligible lot is left
                    hi = int(last)
                    params["hi"] = hi
            else:
                await execute(conn, sql, params)
            if dialect != "postgres":  # PostgreSQL moved the lots in the same statement
                await execute(
                    conn,
                    "UPDATE point_lots SET released_units = released_units + p.paid_units, "
                    "release_count = release_count + 1, status = p.status_after, "
                    "first_release_no = COALESCE(point_lots.first_release_no, @k), "
                    "first_index = COALESCE(point_lots.first_index, @ik18!numeric) "
                    "FROM release_payments p WHERE p.release_id = @rid "
                    "AND p.kind = 'regular' AND p.lot_id = point_lots.id "
                    "AND p.lot_id > @lo AND p.lot_id <= @hi",
                    params,
                )
            kind = "regular"
        else:  # bonus
            if lo >= rel.max_lot_id:
                await _finish(conn, rel)
                return
            hi = await _next_hi(conn, rel, name, lo, rp.batch_size, True)
            params["hi"] = hi
            await _bonus_batch(conn, rel, params)
            kind = "cohort_bonus"
        await _post_batch(conn, rel, params, kind, lo, hi)
        await _accumulate(conn, rel, params, kind, lo, hi, totals)
        await Release.filter(id=rel.id).using_db(conn).update(cursor_lot_id=hi)


async def _post_batch(
    conn: Any, rel: Release, params: dict[str, Any], kind: str, lo: int, hi: int
) -> None:
    name = params["pool"]
    await post_bulk(
        f"release_{kind}",
        f"release:{name}:{rel.release_no}",
        _ledger_select(dialect_of(conn)),
        {**params, "kind": kind, "lo": lo, "hi": hi},
        conn=conn,
        idem_key=f"release:{name}:{rel.release_no}:{kind}:{lo}",
        memo=f"{kind} release {rel.release_no} of the {name} pool, lots {lo + 1}..{hi}",
    )


_BATCH_TOTALS = (
    "COALESCE(SUM(paid_units), 0) AS paid, COALESCE(SUM(voucher_units), 0) AS v, "
    "COALESCE(SUM(shopping_units), 0) AS sh, COALESCE(SUM(subsidy_units), 0) AS sub, "
    "COALESCE(SUM(CASE WHEN paid_units > 0 THEN 1 ELSE 0 END), 0) AS n, "
    "COALESCE(SUM(CASE WHEN status_after = 'exited' THEN 1 ELSE 0 END), 0) AS ex, "
    "COALESCE(SUM(CASE WHEN status_after = 'expired' THEN 1 ELSE 0 END), 0) AS exp, "
    "COALESCE(SUM(CASE WHEN paid_units < formula_units THEN 1 ELSE 0 END), 0) AS lim"
)


async def _accumulate(
    conn: Any,
    rel: Release,
    params: dict[str, Any],
    kind: str,
    lo: int,
    hi: int,
    totals: dict[str, Any] | None = None,
) -> None:
    if totals is None:
        rows = await fetch(
            conn,
            f"SELECT {_BATCH_TOTALS} FROM release_payments WHERE release_id = @rid "
            "AND kind = @kind AND lot_id > @lo AND lot_id <= @hi",
            {"rid": rel.id, "kind": kind, "lo": lo, "hi": hi},
        )
        totals = rows[0]
    r = {k: int(v) for k, v in totals.items()}
    upd: dict[str, Any] = {
        "paid_fen": rel.paid_fen + r["paid"] + r["sub"],
        "voucher_fen": rel.voucher_fen + r["v"],
        "shopping_fen": rel.shopping_fen + r["sh"],
        "subsidy_fen": rel.subsidy_fen + r["sub"],
        "lots_exited": rel.lots_exited + r["ex"],
        "lots_expired": rel.lots_expired + r["exp"],
    }
    if kind == "regular":
        upd["lots_paid"] = rel.lots_paid + r["n"]
        valves = dict(rel.valves or {})
        if "holder_monthly" in valves:
            scaled = _scale_sql(dialect_of(conn), "l.formula_units").replace("l.", "")
            withheld = await fetch(
                conn,
                f"SELECT COALESCE(SUM(x.sc - x.paid_units), 0) AS w, COUNT(*) AS n FROM "
                f"(SELECT {scaled} AS sc, paid_units FROM release_payments "
                "WHERE release_id = @rid AND kind = @kind AND lot_id > @lo AND lot_id <= @hi) x "
                "WHERE x.paid_units < x.sc",
                {**params, "kind": kind, "lo": lo, "hi": hi},
            )
            hm = dict(valves["holder_monthly"])
            hm["lots_limited"] += int(withheld[0]["n"])
            hm["units_withheld"] += int(withheld[0]["w"])
            hm["bound"] = hm["lots_limited"] > 0
            valves["holder_monthly"] = hm
            upd["valves"] = valves
    else:
        upd["cohort_bonus_fen"] = rel.cohort_bonus_fen + r["paid"]
    await Release.filter(id=rel.id).using_db(conn).update(**upd)


async def _finish_regular(conn: Any, rel: Release, policy: Policy) -> None:
    cb = policy.release.cohort_bonus
    if not (cb.enabled and rel.release_no == cb.at_release):
        await _finish(conn, rel)
        return
    # Cohort bonus (众店): 1% of pool:available (before the release) to each cohort
    # 1..36, pro rata to points, to the lots still active after the regular payment.
    rows = await fetch(
        conn,
        "SELECT first_release_no AS c, SUM(points) AS pts FROM point_lots "
        "WHERE pool = @pool AND status = 'active' AND id <= @max_id "
        "AND first_release_no BETWEEN 1 AND @nc GROUP BY first_release_no",
        {
            "pool": (await Pool.get(id=rel.pool_id).using_db(conn)).name,  # type: ignore[attr-defined]
            "max_id": rel.max_lot_id,
            "nc": cb.cohorts,
        },
    )
    s = Decimal(rel.scale_factor)
    per = rel.available_before_fen * cb.per_cohort_bps // BPS
    per_scaled = per * rules.scale_int(s) // rules.SCALE_ONE
    cohorts = {str(int(r["c"])): [per_scaled, int(r["pts"])] for r in rows if int(r["pts"]) > 0}
    params = dict(rel.params or {})
    params["cohort_bonus"] = {"per_cohort_fen": per_scaled, "cohorts": cohorts}
    await (
        Release.filter(id=rel.id)
        .using_db(conn)
        .update(phase="bonus", cursor_lot_id=0, params=params)
    )


async def _bonus_batch(conn: Any, rel: Release, params: dict[str, Any]) -> None:
    dialect = dialect_of(conn)
    f = _fn(dialect)
    cohorts: dict[str, list[int]] = (rel.params or {}).get("cohort_bonus", {}).get("cohorts", {})
    if not cohorts:
        return
    values = " UNION ALL ".join(
        f"SELECT {int(c)} AS c, {int(a)} AS amount, {int(t)} AS total"
        for c, (a, t) in sorted(cohorts.items(), key=lambda kv: int(kv[0]))
    )
    share = "(cb.amount * l.points / cb.total)"
    if dialect == "postgres":
        share = "div(cb.amount::numeric * l.points, cb.total)::bigint"
    cap_left = "(@mult * l.points - l.released_units)"
    await execute(
        conn,
        "INSERT INTO release_payments (release_id, lot_id, kind, holder_kind, holder_id, "
        "points, first_release_no, formula_units, paid_units, voucher_units, shopping_units, "
        "recruiter_user_id, subsidy_units, status_after) "
        "SELECT @rid, y.id, 'cohort_bonus', y.holder_kind, y.holder_id, y.points, y.f, "
        "y.share, y.paid, y.paid * @vs / 10000, y.paid - y.paid * @vs / 10000, NULL, 0, "
        "CASE WHEN y.released_units + y.paid >= @mult * y.points THEN 'exited' "
        "ELSE 'active' END FROM (SELECT l.id, l.holder_kind, l.holder_id, l.points, "
        "l.released_units, l.first_release_no AS f, "
        f"{share} AS share, {f['least']}({share}, {cap_left}) AS paid "
        f"FROM point_lots l JOIN ({values}) cb ON cb.c = l.first_release_no "
        "WHERE l.pool = @pool AND l.status = 'active' AND l.id <= @max_id "
        "AND l.id > @lo AND l.id <= @hi) y WHERE 1 = 1 "
        "ON CONFLICT (release_id, lot_id, kind) DO NOTHING",
        params,
    )
    await execute(
        conn,
        "UPDATE point_lots SET released_units = released_units + p.paid_units, "
        "status = p.status_after FROM release_payments p WHERE p.release_id = @rid "
        "AND p.kind = 'cohort_bonus' AND p.lot_id = point_lots.id "
        "AND p.lot_id > @lo AND p.lot_id <= @hi",
        params,
    )


async def _finish(conn: Any, rel: Release) -> None:
    await (
        Release.filter(id=rel.id)
        .using_db(conn)
        .update(status=ReleaseStatus.DONE, phase="done", finished_at=datetime.now(UTC))
    )
    await write_release_paid(conn, rel.id)  # the run's totals, committed with its end


async def run_pool(
    name: str, *, at: date | None = None, policy: Policy | None = None
) -> Evaluation:
    """Alias used by the worker: one evaluation, releasing when due."""
    return await evaluate_pool(name, at=at, policy=policy)
