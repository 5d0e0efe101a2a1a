"""CPU per paid order in this process, SQL statements and Redis commands per order.

    .venv/bin/python bench/orders_cpu.py                 # 300 orders after 50 warm-up
    .venv/bin/python bench/orders_cpu.py --profile out.html   # pyinstrument, same loop
    .venv/bin/python bench/orders_cpu.py --clients 4 --orders 800   # 4 loops at once
    .venv/bin/python bench/orders_cpu.py --calls                # Python calls per order

One client, sequential orders (`create_order` + `mark_paid`, every 4th paying a fifth
with vouchers; `--clients N`: N such loops at once in this process), seeded as
`orders_vs_pgbench.py` seeds, on a scratch database (dropped at the end).
`time.process_time()` is the worker's own CPU, so other load on the machine barely
moves it; PostgreSQL's and Redis's CPU are not in it (hence the counts, and
`machine_cpu_ms_per_order`: every process's CPU on the machine over the same window, from
/proc/stat). `--calls` counts the Python function calls (and C calls made from Python)
per order, split by phase (`create`: the checkout, `pay`: the payment with the consumer
work it starts, `other`): a count that does not move with the machine's speed, for
comparing two versions of the code (it slows the run, so its times mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from contextvars import ContextVar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orders_vs_pgbench as ovp  # noqa: E402


def count_calls() -> Counter[str]:
    """Count asyncpg statements (and BEGIN/COMMIT) and Redis round trips."""
    import asyncpg
    import asyncpg.transaction
    import redis.asyncio.connection as rconn

    seen: Counter[str] = Counter()

    def wrap(cls: type, name: str, label: str) -> None:
        orig = getattr(cls, name)

        async def counted(self, *a, **k):  # type: ignore[no-untyped-def]
            seen[label] += 1
            if os.environ.get("BENCH_TRACE"):
                print(label, name, str(a[0])[:100] if a else "", file=sys.stderr)
            return await orig(self, *a, **k)

        setattr(cls, name, counted)

    for name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
        wrap(asyncpg.Connection, name, "sql")
    wrap(asyncpg.transaction.Transaction, "start", "begin")
    wrap(asyncpg.transaction.Transaction, "commit", "commit")
    # every Redis round trip sends once: pipelines, single commands and app.infra.redis's lean
    # calls alike
    wrap(rconn.AbstractConnection, "send_packed_command", "redis")
    return seen


async def orders_loop(
    consumers: list[int], merchants: list[int], n: int, rng, tag: str, clients: int = 1
) -> None:
    """n orders: one after another, or from `clients` loops at once (one consumer each)."""
    if clients <= 1:
        for i in range(1, n + 1):
            await ovp.paid_order(consumers[i % len(consumers)], merchants, i, rng, tag)
        return

    async def client(k: int) -> None:
        for i in range(1, n // clients + 1):
            await ovp.paid_order(consumers[k], merchants, i, rng, f"{tag}{k}")

    await asyncio.gather(*(client(k) for k in range(clients)))


async def pg_backends() -> list[int]:
    """The PostgreSQL backends of this process's pool (local server: their /proc CPU)."""
    from tortoise import connections

    rows = await connections.get("default").execute_query_dict(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = '' AND backend_type = 'client backend'"
    )
    return [int(r["pid"]) for r in rows]


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process: this one, PostgreSQL's
    backends and background writers, Redis), from /proc/stat; idle, iowait and steal
    left out."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in first[:8]]
    busy = sum(ticks) - ticks[3] - ticks[4] - (ticks[7] if len(ticks) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


class CallCounter:
    """Python calls per phase of an order (`sys.setprofile`; one thread). The phase is a
    context variable set around the checkout and the payment, so the tasks they start
    (the outbox's consumers) count in the phase that started them."""

    def __init__(self) -> None:
        self.phase: ContextVar[str] = ContextVar("bench_phase", default="other")
        self.counts: Counter[str] = Counter()

    def wrap(self, module: object, name: str, label: str) -> None:
        original = getattr(module, name)

        async def phased(*a, **k):  # type: ignore[no-untyped-def]
            token = self.phase.set(label)
            try:
                return await original(*a, **k)
            finally:
                self.phase.reset(token)

        setattr(module, name, phased)

    def _profile(self, frame, event, arg) -> None:  # type: ignore[no-untyped-def]
        if event == "call" or event == "c_call":
            self.counts[self.phase.get()] += 1

    def start(self) -> None:
        from app.domain import orders
        from app.services import checkout

        self.wrap(checkout, "create_order", "create")
        self.wrap(orders, "mark_paid", "pay")
        sys.setprofile(self._profile)

    def stop(self) -> None:
        sys.setprofile(None)


def backend_cpu(pids: list[int]) -> float:
    """user + system CPU seconds of these processes (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


async def measure(args: argparse.Namespace, setup: dict) -> dict:
    from app.dev import wiring
    from app.domain.ledger.verify import verify_ledger
    from app.infra import outbox
    from app.infra.db import close_db, init_db
    from app.services import consumers as event_consumers

    seen = count_calls()
    ovp.install_consumers(event_consumers)
    wiring.install()  # the sandbox channel, as the entry points wire it
    await init_db()
    try:
        rng = random.Random(1)
        consumers, merchants = setup["consumers"], setup["merchants"]
        await orders_loop(consumers, merchants, args.warmup, rng, "warm", args.clients)
        await outbox.drain()
        seen.clear()
        backends = await pg_backends()
        pg_cpu = backend_cpu(backends)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        calls = CallCounter() if args.calls else None
        if calls is not None:
            calls.start()
        busy = machine_busy()
        cpu, wall = time.process_time(), time.perf_counter()
        await orders_loop(consumers, merchants, args.orders, rng, "run", args.clients)
        await outbox.drain()  # the consumers' work is the orders' too
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pg_cpu = backend_cpu(backends) - pg_cpu
        busy = machine_busy() - busy
        if calls is not None:
            calls.stop()
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_html())
            print(profiler.output_text(show_all=False, color=False), file=sys.stderr)
        per = {k: round(v / args.orders, 2) for k, v in sorted(seen.items())}
        report = await verify_ledger()
        return {
            "orders": args.orders,
            "cpu_ms_per_order": round(1000 * cpu / args.orders, 2),
            "wall_ms_per_order": round(1000 * wall / args.orders, 2),
            "pg_backend_cpu_ms_per_order": round(1000 * pg_cpu / args.orders, 2),
            "machine_cpu_ms_per_order": round(1000 * busy / args.orders, 2),
            "per_order": per,
            "ledger_ok": report.ok,
            **(
                {"python_calls_per_order": {k: round(v / args.orders, 1)
                                            for k, v in sorted(calls.counts.items())}}
                if calls is not None else {}
            ),
        }  # fmt: skip
    finally:
        await close_db()


async def seed(consumers: int) -> dict:
    from app.infra.redis import close_redis

    try:
        return await ovp.seed(consumers)
    finally:
        await close_redis()  # its connections belong to this loop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("BENCH_PG_URL", ovp.DEFAULT_URL))
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS", ovp.DEFAULT_REDIS))
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--consumers", type=int, default=2, help="seeded consumers, used in turn")
    ap.add_argument("--clients", type=int, default=1, help="concurrent client loops")
    ap.add_argument("--profile", help="write a pyinstrument HTML profile here")
    ap.add_argument("--calls", action="store_true", help="count Python calls per order")
    ap.add_argument("--no-uvloop", action="store_true")
    args = ap.parse_args()

    name = f"bench_orders_cpu_{secrets.token_hex(4)}"
    prefix = f"bench:orders:{secrets.token_hex(4)}:"
    asyncio.run(ovp.admin(args.url, f'CREATE DATABASE "{name}"'))
    try:
        os.environ.update(ovp.app_env(ovp.with_db(args.url, name), args.redis, prefix, 4))
        setup = asyncio.run(seed(max(args.consumers, args.clients)))
        loop_factory = None
        if not args.no_uvloop:
            import uvloop

            loop_factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result = runner.run(measure(args, setup))
    finally:
        asyncio.run(ovp.admin(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(ovp.clean_redis(args.redis, prefix))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
