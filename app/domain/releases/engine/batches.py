"""The batch phases: regular payments (and the cohort bonus), keyed on lot id, each
batch one short transaction that pays its lots, posts its ledger entry set-based and
moves the release's cursor; `run_batches` runs (or resumes) a release to the end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from app.domain.ledger import acct
from app.domain.ledger.bulk import post_bulk
from app.domain.policy import BPS, Policy, get_policy
from app.domain.releases import rules
from app.domain.releases.engine.lock import TZ, PoolLock
from app.domain.releases.engine.plan import base_params
from app.domain.releases.engine.sql import (
    BATCH_TOTALS,
    BONUS_LOTS_UPDATE,
    LEDGER_SELECT,
    bonus_insert_sql,
    execute,
    fetch,
    payments_insert_sql,
    scale_sql,
)
from app.domain.releases.events import write_release_paid
from app.models.releases import Pool, Release, ReleaseStatus


def _month_bounds(run_on: date) -> tuple[datetime, datetime]:
    start = datetime(run_on.year, run_on.month, 1, tzinfo=TZ)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


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
        params = base_params(
            {
                "pool": name,
                "pool_id": pool.id,
                "rid": rel.id,
                "k": rel.release_no,
                "ik": Decimal(rel.index_after),
                "cutoff": rel.cutoff_at,
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
            # Without the holder cap the statement itself takes the next `batch` eligible
            # lots and says where it stopped; with it, count them first.
            limited = not holder_cap
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
                    m0=m0,
                    m1=m1,
                    d0=m0.date(),
                    d1=m1.date(),
                )
            scaled = s != 1
            ik18 = rules.shown_index(Decimal(rel.index_after))
            params["ik18"] = ik18
            sql = payments_insert_sql(holder_cap, scaled, limited)
            # the lots move and the batch's totals come back in the one statement
            totals = dict((await fetch(conn, sql, params))[0])
            lots, last = int(totals.pop("lots")), totals.pop("last")
            if limited and lots == rp.batch_size:  # else: no eligible lot is left
                hi = int(last)
                params["hi"] = hi
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
        LEDGER_SELECT,
        {**params, "kind": kind, "lo": lo, "hi": hi},
        conn=conn,
        idem_key=f"release:{name}:{rel.release_no}:{kind}:{lo}",
        memo=f"{kind} release {rel.release_no} of the {name} pool, lots {lo + 1}..{hi}",
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
            f"SELECT {BATCH_TOTALS} FROM release_payments WHERE release_id = @rid "
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
            scaled = scale_sql("formula_units")
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
    cohorts: dict[str, list[int]] = (rel.params or {}).get("cohort_bonus", {}).get("cohorts", {})
    if not cohorts:
        return
    values = " UNION ALL ".join(
        f"SELECT {int(c)} AS c, {int(a)} AS amount, {int(t)} AS total"
        for c, (a, t) in sorted(cohorts.items(), key=lambda kv: int(kv[0]))
    )
    await execute(conn, bonus_insert_sql(values), params)
    await execute(conn, BONUS_LOTS_UPDATE, params)


async def _finish(conn: Any, rel: Release) -> None:
    await (
        Release.filter(id=rel.id)
        .using_db(conn)
        .update(status=ReleaseStatus.DONE, phase="done", finished_at=datetime.now(UTC))
    )
    await write_release_paid(conn, rel.id)  # the run's totals, committed with its end
