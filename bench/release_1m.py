"""Benchmark: one release over N active lots on PostgreSQL vs a bare INSERT … SELECT.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/release_1m.py --lots 1000000 100000

For each N, in a fresh child process (so peak memory is that run's own) and a fresh
database: N active lots (4 lots per consumer) and a funded pool are created; then, in
the same run on the same database,
  * bare:    INSERT INTO bare_payments SELECT … FROM generate_series(1, N)  — a table of
             the same shape as release_payments (LIKE … INCLUDING ALL);
  * release: the engine's release of the pool (plan, keyed batches, set-based ledger),
             first release (holder accounts created) and a second one (accounts exist).
Prints one JSON line per N; `--out` appends them to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _with_db(url: str, name: str) -> str:
    p = urlsplit(url.replace("postgresql://", "postgres://", 1))
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_one(n: int, base_url: str, fillfactor: int | None = None) -> dict:
    from tortoise import connections

    from app.domain.ledger import Entry, Post, acct, post
    from app.domain.ledger.seal import seal_pending
    from app.domain.policy import load_policy
    from app.domain.releases import evaluate_pool, get_pool
    from app.infra.config import get_settings
    from app.infra.db import close_db, init_db, migrate
    from app.models.releases import Pool

    name = f"bench_{secrets.token_hex(4)}"
    await _admin(base_url, f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _with_db(base_url, name)
    get_settings.cache_clear()
    try:
        await migrate()
        await close_db()
        await init_db()
        conn = connections.get("default")
        policy = load_policy("zhongdian")
        start = date(2025, 3, 3)
        await get_pool("consumer", start)
        if fillfactor:
            # override the migration's fillfactor (room on each page for HOT updates)
            await conn.execute_script(f"ALTER TABLE point_lots SET (fillfactor = {fillfactor})")
        # N active lots of 50–249 points, 4 per consumer, activated before the release
        await conn.execute_script(
            "INSERT INTO point_lots (holder_kind, holder_id, pool, points, status, activate_on, "
            "activated_at, released_units, release_count, created_at) "
            "SELECT 'consumer', (g - 1) / 4 + 1, 'consumer', 5000 + (g::bigint * 7919) % 20000, "
            f"'active', DATE '2025-02-20', TIMESTAMPTZ '2025-02-20 08:00+08', 0, 0, now() "
            f"FROM generate_series(1, {n}) g; ANALYZE point_lots;"
        )
        await post(
            Entry("bench", "fund", [Post(acct.WORLD_CNY, acct.pool_available("consumer"), 10**15)])
        )
        await conn.execute_script(
            "CREATE TABLE bare_payments (LIKE release_payments INCLUDING ALL); "
            "CREATE TABLE bare_payments_noidx (LIKE release_payments INCLUDING DEFAULTS)"
        )
        # the bare insert, same shape, same database, same run
        t0 = time.perf_counter()
        await conn.execute_script(
            "INSERT INTO bare_payments (release_id, lot_id, kind, holder_kind, holder_id, "
            "points, first_release_no, formula_units, paid_units, voucher_units, "
            "shopping_units, recruiter_user_id, subsidy_units, status_after) "
            "SELECT 1, l.id, 'regular', l.holder_kind, l.holder_id, l.points, 1, "
            "l.points / 200, l.points / 200, l.points / 200, 0, NULL, 0, 'active' "
            "FROM point_lots l"
        )
        bare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute_script(
            "INSERT INTO bare_payments_noidx (id, release_id, lot_id, kind, holder_kind, "
            "holder_id, points, first_release_no, formula_units, paid_units, voucher_units, "
            "shopping_units, recruiter_user_id, subsidy_units, status_after) "
            "SELECT l.id, 1, l.id, 'regular', l.holder_kind, l.holder_id, l.points, 1, "
            "l.points / 200, l.points / 200, l.points / 200, 0, NULL, 0, 'active' "
            "FROM point_lots l"
        )
        bare_noidx_s = time.perf_counter() - t0

        timings = []
        at = start
        for _ in range(2):
            # make the release due (the trigger rules are tested elsewhere)
            await Pool.filter(name="consumer").update(
                due_on=at + timedelta(days=10),
                due_trigger="max_interval",
                condition_on=at + timedelta(days=9),
            )
            at = at + timedelta(days=10)
            rss0 = peak_rss_mb()
            t0 = time.perf_counter()
            ev = await evaluate_pool("consumer", at=at, policy=policy)
            secs = time.perf_counter() - t0
            assert ev.release is not None and ev.release.status == "done", ev.note
            assert ev.release.lots_paid == n, ev.release.lots_paid
            timings.append(
                {
                    "release_no": ev.release.release_no,
                    "seconds": round(secs, 2),
                    "lots_paid": ev.release.lots_paid,
                    "paid_fen": ev.release.paid_fen,
                    "peak_rss_mb_before": round(rss0, 1),
                    "peak_rss_mb_after": round(peak_rss_mb(), 1),
                }
            )
        rows = await conn.execute_query_dict(
            "SELECT (SELECT COUNT(*) FROM release_payments) AS payments, "
            "(SELECT COUNT(*) FROM ledger_postings) AS postings, "
            "(SELECT COUNT(*) FROM ledger_accounts) AS accounts"
        )
        # the release's entries are written unsealed; the sealing job links them (timed)
        started = time.perf_counter()
        sealed = await seal_pending()
        seal_s = time.perf_counter() - started
        # verify_ledger() is exercised by the tests; at this size its per-account
        # recount is the slow part, so the bench checks the invariants directly.
        check = await conn.execute_query_dict(
            "SELECT (SELECT SUM(paid_units) FROM release_payments) AS paid, "
            "(SELECT balance FROM ledger_accounts WHERE name = 'reserve:voucher') AS reserve, "
            "(SELECT COUNT(*) FROM ledger_entries WHERE seq IS NULL) AS unsealed"
        )
        verified = int(check[0]["paid"]) == int(check[0]["reserve"]) and not check[0]["unsealed"]
        return {
            "lots": n,
            "sealed": sealed,
            "seal_s": round(seal_s, 3),
            "fillfactor": {
                str(r["relname"]): str(r["reloptions"] or "default")
                for r in await conn.execute_query_dict(
                    "SELECT relname, reloptions FROM pg_class "
                    "WHERE relname IN ('point_lots', 'ledger_accounts')"
                )
            },
            "batch_size": policy.release.batch_size,
            "bare_insert_s": round(bare_s, 2),
            "bare_insert_noindex_s": round(bare_noidx_s, 2),
            "first_release": timings[0],
            "second_release": timings[1],
            "ratio_first": round(timings[0]["seconds"] / bare_s, 2),
            "ratio_second": round(timings[1]["seconds"] / bare_s, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "rows": {k: int(v) for k, v in rows[0].items()},
            "ledger_verified": verified,
        }
    finally:
        await close_db()
        from app.infra.redis import close_redis

        await close_redis()
        await _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--fillfactor", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ns = ap.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith(("postgres://", "postgresql://")):
        print("needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    if ns.child:
        result = asyncio.run(run_one(ns.lots[0], base, ns.fillfactor))
        print(json.dumps(result))
        return 0
    for n in ns.lots:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--lots", str(n)]
            + (["--fillfactor", str(ns.fillfactor)] if ns.fillfactor else []),
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": base},
            check=False,
        )
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        line = out.stdout.strip().splitlines()[-1]
        print(line, flush=True)
        if ns.out:
            with ns.out.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
