"""Benchmark: paid orders per second vs pgbench TPC-B on the same PostgreSQL, same run.

    .venv/bin/python bench/orders_vs_pgbench.py            # defaults below

Needs PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres, or BENCH_PG_URL /
--url), `pgbench` on PATH (postgresql-client) and Redis (default
redis://127.0.0.1:6379/0, or BENCH_REDIS / --redis; only keys under
`bench:orders:<random>:` are written there, and deleted at the end).

What it does, in one run:

1. **pgbench**: a scratch database, `pgbench -i -s <scale>` (default 10), then the
   standard TPC-B-like script: `pgbench -c <clients> -j <min(clients, cpus)> -T <seconds>`.
2. **orders**: a scratch database with the app's migrations, seeded with 20 approved
   merchants (3/10/15/20% discount, half in a region with province/city/district
   agents) and one consumer per client (half bound to a merchant, all holding
   vouchers); then `<clients>` concurrent clients, each looping `create_order` +
   `mark_paid` (every 4th order pays a fifth with vouchers) — the real domain code
   path: channel routing and health, the sandbox channel's create-payment (in-process,
   state in Redis), the voucher hold, the settlement plan, the ledger entry (row locks;
   sealed into the hash chain after the run, timed), point lots and the after-commit
   discovery hook. The clients are spread over `--procs` worker processes (default 2:
   one event loop per process, like one uvicorn worker per core, uvloop when
   installed), after a warm-up.
3. `--rounds` (default 3) alternating slices of both (pgbench first in odd rounds,
   orders first in even ones), so a change in the machine's load weighs on both;
   the medians are compared. Then `verify_ledger()` on the orders database, and both
   scratch databases are dropped.

`BENCH_CONSUMERS=discovery` registers only the heat map's consumers (the work the code
before the outbox did after a payment), for a like-with-like comparison with it.

Prints one JSON line (both medians, the ratio, every slice, the ledger check);
`--out FILE` appends it. The same client count is used for both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
MERCHANTS = 20


def with_db(url: str, name: str, **query: str) -> str:
    p = urlsplit(url.replace("postgresql://", "postgres://", 1))
    q = "&".join([*(f"{k}={v}" for k, v in query.items()), *([p.query] if p.query else [])])
    return urlunsplit((p.scheme, p.netloc, "/" + name, q, p.fragment))


def libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1).split("?")[0]


async def admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(libpq(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# ------------------------------------------------------------------ pgbench


class PgBench:
    """A scratch database initialised by `pgbench -i`, run in slices, then dropped."""

    def __init__(self, url: str, scale: int):
        self.url, self.scale = url, scale
        self.name = f"bench_pgbench_{secrets.token_hex(4)}"

    def __enter__(self) -> PgBench:
        asyncio.run(admin(self.url, f'CREATE DATABASE "{self.name}"'))
        self.target = libpq(with_db(self.url, self.name))
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", str(self.scale), self.target],
            check=True,
            capture_output=True,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run(admin(self.url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def run(self, clients: int, threads: int, seconds: int) -> dict:
        out = subprocess.run(
            ["pgbench", "-c", str(clients), "-j", str(threads), "-T", str(seconds), self.target],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        if tps is None:
            raise RuntimeError(f"could not read pgbench output:\n{out}")
        lat = re.search(r"latency average = ([\d.]+) ms", out)
        return {"tps": float(tps.group(1)), "latency_ms": float(lat.group(1)) if lat else None}


# ------------------------------------------------------------------ orders


def app_env(db_url: str, redis_url: str, prefix: str, pool: int) -> dict[str, str]:
    """The environment the app reads its settings from, for this benchmark's scratch DB."""
    return {
        "DATABASE_URL": with_db(db_url, urlsplit(db_url).path.strip("/"), maxsize=str(pool)),
        "REDIS_URL": redis_url,
        "APP_ENV": "dev",  # the sandbox channel is the embedded default in dev and test
        "LOG_LEVEL": "WARNING",
        "POLICY": "zhongdian",
        "PAYMENT_REDIS_PREFIX": f"{prefix}pay",
        "GEO_KEY_PREFIX": f"{prefix}geo:",
    }


async def seed(clients: int) -> dict:
    """Merchants, agents, consumers (bound / with vouchers): what every order needs."""
    from decimal import Decimal

    from app.domain import merchants
    from app.domain.ledger import Entry, Post, acct, post
    from app.infra.db import close_db, init_db, migrate
    from app.models.ledger import Asset
    from app.models.merchants import Agent, CoordSystem
    from app.models.users import User

    await migrate()
    await close_db()
    await init_db()
    try:
        users = iter(range(1, 10**9))

        async def user() -> User:
            return await User.create(phone=f"139{next(users):08d}", nickname="bench")

        for level, code in (("province", "310000"), ("city", "310100"), ("district", "310101")):
            await Agent.create(user=await user(), level=level, region_code=code)
        merchant_ids = []
        for i in range(MERCHANTS):
            m = await merchants.apply_merchant(
                owner_id=(await user()).id,
                name=f"bench shop {i}",
                category="food",
                address="1 Bench Road",
                location=merchants.Location(
                    Decimal("31.2304") + Decimal(i) / 1000, Decimal("121.4737"), CoordSystem.GCJ02
                ),
                region_code="310101" if i % 2 else "310104",
                discount_bps=(300, 1000, 1500, 2000)[i % 4],
            )
            await merchants.approve_merchant(m.id)
            merchant_ids.append(m.id)
        consumer_ids = []
        for i in range(clients):
            c = await user()
            if i % 2:
                await merchants.bind_by_qr(c.id, merchants.merchant_qr(merchant_ids[i % MERCHANTS]))
            await post(
                Entry(
                    "bench_vouchers",
                    f"user:{c.id}",
                    [
                        Post(acct.WORLD_CNY, acct.VOUCHER_RESERVE, 10**9),
                        Post(acct.issuer(Asset.VOUCHER), acct.consumer_voucher(c.id), 10**9),
                    ],
                )
            )
            consumer_ids.append(c.id)
        return {"merchants": merchant_ids, "consumers": consumer_ids}
    finally:
        await close_db()


def install_consumers(event_consumers: Any) -> None:
    """The event consumers, as the API server installs them; with
    `BENCH_CONSUMERS=discovery`, the heat map's alone — what the code before the outbox
    did for each payment (no live notices, no partner webhooks), to compare like with
    like."""
    if os.environ.get("BENCH_CONSUMERS", "all") == "discovery":
        from app.services import discovery

        discovery.register()
    else:
        event_consumers.install()


async def paid_order(
    consumer_id: int, merchants: list[int], n: int, rng: random.Random, tag: str
) -> None:
    """The consumer's n-th order, created and paid (every 4th pays a fifth with vouchers)."""
    from app.domain import orders
    from app.services import checkout

    amount = rng.randint(100, 50_000)
    order = await checkout.create_order(
        consumer_id=consumer_id,
        merchant_id=rng.choice(merchants),
        amount_fen=amount,
        voucher_fen=amount // 5 if n % 4 == 0 else 0,
        idempotency_key=f"{tag}-{consumer_id}-{n}",
    )
    if order.status not in orders.PAID_STATES:
        order = await orders.mark_paid(
            order.id,
            channel=order.channel,
            channel_txn_id=f"{tag}-txn-{order.id}",
            amount_fen=order.cash_fen,
        )
    assert order.status == "paid"


async def client_loop(
    consumer_id: int, merchants: list[int], until: float, rng: random.Random, tag: str
) -> tuple[int, list[float]]:
    done, latencies, n = 0, [], 0
    while time.monotonic() < until:
        n += 1
        started = time.monotonic()
        await paid_order(consumer_id, merchants, n, rng, tag)
        latencies.append(time.monotonic() - started)
        done += 1
    return done, latencies


async def worker_main(spec: dict) -> dict:
    """One process: its share of the clients, warm-up, then the measured window."""
    from app.dev import wiring
    from app.domain.ledger import durable
    from app.infra import heap, outbox
    from app.infra.config import get_settings
    from app.infra.db import close_db, init_db
    from app.services import consumers as event_consumers

    install_consumers(event_consumers)
    wiring.install()  # the sandbox channel, as the entry points wire it
    await init_db()
    heap.settle(get_settings())  # as the server's lifespan does once it is up
    try:
        rng = random.Random(spec["seed"])
        tag = f"w{spec['index']}"
        consumers = spec["consumers"]
        # warm-up: connections, caches, prepared statements
        warm = time.monotonic() + spec["warmup"]
        await asyncio.gather(
            *(client_loop(c, spec["merchants"], warm, rng, tag + "w") for c in consumers)
        )
        delay = spec["start_at"] - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        until = time.monotonic() + spec["seconds"]
        started = time.monotonic()
        results = await asyncio.gather(
            *(client_loop(c, spec["merchants"], until, rng, tag) for c in consumers)
        )
        await outbox.drain()  # the window includes telling the consumers
        elapsed = time.monotonic() - started
        waits, flushes = durable.counts()
        return {
            "orders": sum(r[0] for r in results),
            "elapsed": elapsed,
            "durable_waits": waits,
            "flushes": flushes,
            "latencies": [x for r in results for x in r[1]],
        }
    finally:
        await close_db()


async def verify_and_count() -> dict:
    from tortoise.functions import Count

    from app.domain.ledger.seal import seal_pending
    from app.domain.ledger.verify import verify_ledger
    from app.infra.db import close_db, init_db
    from app.models.orders import Order

    await init_db()
    try:
        # the sealing job's work for the whole run, timed (it runs off the hot path)
        started = time.perf_counter()
        sealed = await seal_pending()
        seal_s = time.perf_counter() - started
        report = await verify_ledger()
        return {
            "ledger_ok": report.ok,
            "ledger_problem": report.problem,
            "entries": report.entries,
            "sealed_after_run": sealed,
            "seal_entries_per_s": round(sealed / seal_s) if sealed else None,
            "orders_by_status": {
                str(r["status"]): r["n"]
                for r in await Order.annotate(n=Count("id"))
                .group_by("status")
                .values("status", "n")
            },
        }
    finally:
        await close_db()


async def clean_redis(redis_url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 1000):
            await r.delete(*keys[i : i + 1000])
    finally:
        await r.aclose()


class OrdersBench:
    """A scratch database with the app's schema and seed data, run in slices, dropped."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.name = f"bench_orders_{secrets.token_hex(4)}"
        self.prefix = f"bench:orders:{secrets.token_hex(4)}:"
        per_proc = -(-args.clients // args.procs)
        db_url = with_db(args.url, self.name)
        self.env = {**os.environ, **app_env(db_url, args.redis, self.prefix, per_proc + 2)}
        self.slices = 0

    def __enter__(self) -> OrdersBench:
        asyncio.run(admin(self.args.url, f'CREATE DATABASE "{self.name}"'))
        self.setup = _child(self.env, {"mode": "seed", "clients": self.args.clients})
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run(admin(self.args.url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        asyncio.run(clean_redis(self.args.redis, self.prefix))

    def run(self) -> dict:
        args = self.args
        self.slices += 1
        start_at = time.time() + args.warmup + 2 + args.procs
        procs = []
        for i in range(args.procs):
            mine = self.setup["consumers"][i :: args.procs]
            if not mine:
                continue
            spec = {
                "mode": "worker",
                "index": f"{self.slices}.{i}",
                "seed": self.slices * 100 + i,
                "consumers": mine,
                "merchants": self.setup["merchants"],
                "warmup": args.warmup,
                "seconds": args.seconds,
                "start_at": start_at,
                "uvloop": not args.no_uvloop,
            }
            procs.append(_spawn(self.env, spec))
        outs = [_result(p, "worker") for p in procs]
        done = sum(o["orders"] for o in outs)
        elapsed = max(o["elapsed"] for o in outs)
        lat = sorted(x for o in outs for x in o["latencies"])
        waits = sum(o["durable_waits"] for o in outs)
        return {
            "orders_per_s": done / elapsed,
            "orders": done,
            # waits for the disk after early-released commits, and the flushes that
            # served them (warm-up included): the share a process's group flush saved
            "flushes_per_wait": round(sum(o["flushes"] for o in outs) / waits, 3)
            if waits
            else None,
            "latency_ms_p50": round(1000 * lat[len(lat) // 2], 1) if lat else None,
            "latency_ms_p95": round(1000 * lat[int(len(lat) * 0.95)], 1) if lat else None,
        }

    def verify(self) -> dict:
        return _child(self.env, {"mode": "verify"})


def _spawn(env: dict, spec: dict) -> tuple[subprocess.Popen, Path]:
    """A child process; it writes its JSON result to a file of its own (a worker's
    latencies outgrow what a pipe takes in one write once its loop made stdout
    non-blocking)."""
    fd, name = tempfile.mkstemp(prefix="bench_orders_", suffix=".json")
    os.close(fd)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps({**spec, "result_file": name})],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, Path(name)


def _result(spawned: tuple[subprocess.Popen, Path], mode: str) -> Any:
    proc, path = spawned
    try:
        _, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"{mode} failed:\n{err[-4000:]}")
        return json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)


def _child(env: dict, spec: dict) -> Any:
    return _result(_spawn(env, spec), spec["mode"])


def child(spec: dict) -> None:
    if spec["mode"] == "seed":
        result = asyncio.run(seed(spec["clients"]))
    elif spec["mode"] == "worker":
        # uvloop, as a uvicorn worker runs the app when it is installed (uvicorn[standard])
        loop_factory = None
        try:
            import uvloop

            if spec.get("uvloop", True):
                loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result = runner.run(worker_main(spec))
    else:
        result = asyncio.run(verify_and_count())
    Path(spec["result_file"]).write_text(json.dumps(result))


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("BENCH_PG_URL", DEFAULT_URL))
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS", DEFAULT_REDIS))
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients, both sides")
    ap.add_argument("--procs", type=int, default=2, help="worker processes for the orders")
    ap.add_argument("--seconds", type=int, default=20, help="measured window, each side")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    ap.add_argument("--rounds", type=int, default=3, help="alternating slices; medians")
    ap.add_argument("--orders-first", action="store_true")
    ap.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop in workers")
    ap.add_argument("--out", help="append the JSON result line to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if shutil.which("pgbench") is None:
        sys.exit("pgbench not found: install postgresql-client (apt-get install postgresql-client)")

    threads = min(args.clients, os.cpu_count() or 1)
    pg_runs: list[dict] = []
    order_runs: list[dict] = []
    with PgBench(args.url, args.scale) as pg, OrdersBench(args) as ob:
        for r in range(args.rounds):
            # alternate which goes first, so a change in the machine's load weighs on both
            first_pg = (r % 2 == 0) != args.orders_first
            for step in ("pgbench", "orders") if first_pg else ("orders", "pgbench"):
                if step == "pgbench":
                    pg_runs.append(pg.run(args.clients, threads, args.seconds))
                    print(f"round {r + 1} pgbench: {pg_runs[-1]['tps']:.1f} tps", file=sys.stderr)
                else:
                    order_runs.append(ob.run())
                    print(
                        f"round {r + 1} orders: {order_runs[-1]['orders_per_s']:.1f} paid/s",
                        file=sys.stderr,
                    )
        check = ob.verify()
    orders_per_s = statistics.median(o["orders_per_s"] for o in order_runs)
    tps = statistics.median(p["tps"] for p in pg_runs)
    line = {
        "bench": "orders_vs_pgbench",
        "clients": args.clients,
        "procs": args.procs,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "paid_orders_per_s": round(orders_per_s, 1),
        "pgbench_tps": round(tps, 1),
        "ratio": round(orders_per_s / tps, 4),
        "orders_runs": order_runs,
        "pgbench_runs": pg_runs,
        "pgbench_scale": args.scale,
        "pgbench_threads": threads,
        **check,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(json.dumps(line))
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    if not check["ledger_ok"]:
        sys.exit(f"ledger does not verify: {check['ledger_problem']}")


if __name__ == "__main__":
    main()
