"""Benchmark: `nearbyMerchants` through the full stack vs a bare GEOSEARCH endpoint.

One command (PostgreSQL and Redis running locally):

    .venv/bin/python bench/nearby.py

It creates a fresh PostgreSQL database, seeds 60,000 approved merchants spread
uniformly over a 50 km x 50 km square centred on People's Square, Shanghai (a
city-sized area, ~24 merchants/km², ~680 within any 3 km circle) plus a few thousand
paid orders for heat, rebuilds the Redis geo index (`rebuild-geo-index` code path), then
starts two uvicorn servers with identical settings (1 worker, uvloop, httptools, no
access log): the real app (`app.main:app`, GraphQL + Tortoise + Redis) and the bare
Starlette endpoint (bench/nearby_bare.py) doing the same GEOSEARCH on the same Redis.
A keep-alive load generator (raw asyncio, CONCURRENCY connections) sends random
positions (inside the central 30 km x 30 km) to each, one server at a time, in ROUNDS
alternating slices totalling DURATION seconds per server (after a warm-up), in the
same run, and prints requests/s, p50/p99 latency, each server's CPU time per request
and the ratio. A third server (the same app) gets the same query selecting
`pageInfo { endCursor }`, i.e. a client that will scroll: that makes the app keep a
scroll snapshot (a second Redis round trip); it is reported alongside, not in the
ratio. Then a breakdown of one call at a time in this process. Results go to
bench/results/nearby.json.

Environment: BENCH_PG (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_REDIS (default redis://127.0.0.1:6379/0: only `bench:geo:v1:*` keys there are
replaced), BENCH_MERCHANTS (60000), BENCH_CONCURRENCY (32), BENCH_DURATION (15 s), BENCH_ROUNDS (5).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
# Database 0 (test runs flush a random one of 1..15), under its own key prefix.
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
os.environ["GEO_KEY_PREFIX"] = KEY_PREFIX = "bench:geo:v1:"
N_MERCHANTS = int(os.environ.get("BENCH_MERCHANTS", "60000"))
N_ORDERS = int(os.environ.get("BENCH_ORDERS", "3000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
DURATION = float(os.environ.get("BENCH_DURATION", "15"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CENTRE = (31.2304, 121.4737)
HALF_SIDE_M = 25_000
QUERY_HALF_SIDE_M = 15_000
CATEGORIES = ["food", "drinks", "grocery", "beauty", "fitness", "kids", "pets", "repair"]
DB_NAME = f"bench_nearby_{secrets.token_hex(4)}"

QUERY = (
    "query($loc: LocationInput!) { nearbyMerchants(location: $loc, first: 20) "
    "{ totalCount edges { node { merchantId name category distanceM score discountBps } } } }"
)
# The same page for a client that will scroll: selecting a cursor makes the server keep
# the ranked list (the scroll snapshot, a second Redis round trip). Measured alongside,
# not part of the ratio.
QUERY_CURSOR = QUERY.replace("{ totalCount edges", "{ totalCount pageInfo { endCursor } edges")


def _db_url(name: str) -> str:
    p = urlsplit(PG_ADMIN)
    return urlunsplit((p.scheme, p.netloc, "/" + name, "", ""))


def _point(rng: random.Random, half_side_m: float) -> tuple[float, float]:
    dy = rng.uniform(-half_side_m, half_side_m)
    dx = rng.uniform(-half_side_m, half_side_m)
    lat = CENTRE[0] + dy / 111_320
    lng = CENTRE[1] + dx / (111_320 * math.cos(math.radians(CENTRE[0])))
    return lat, lng


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed() -> None:
    os.environ["DATABASE_URL"] = _db_url(DB_NAME)
    os.environ["REDIS_URL"] = REDIS_URL
    from app.infra.config import get_settings

    get_settings.cache_clear()
    from app.adapters.discovery import index
    from app.commands.geo import reconcile_orders
    from app.infra.db import close_db, init_db, migrate
    from app.infra.redis import close_redis, get_redis
    from app.models.merchants import Merchant, MerchantStatus
    from app.models.orders import Order, OrderStatus
    from app.models.users import Role, User

    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    await migrate()
    await close_db()
    await init_db()
    t = time.perf_counter()
    rng = random.Random(42)
    owners = await User.bulk_create(
        [User(role=Role.MERCHANT_OWNER, nickname=f"owner{i}") for i in range(N_MERCHANTS // 100)]
    )
    owners = await User.filter(role=Role.MERCHANT_OWNER).order_by("id")
    batch = []
    for i in range(N_MERCHANTS):
        lat, lng = _point(rng, HALF_SIDE_M)
        batch.append(
            Merchant(
                owner_id=owners[i % len(owners)].id,
                name=f"Store {i}",
                category=rng.choice(CATEGORIES),
                address=f"{i} Bench Road",
                lat=Decimal(f"{lat:.7f}"),
                lng=Decimal(f"{lng:.7f}"),
                region_code="310101",
                discount_bps=rng.choice([300, 500, 800, 1000, 1500, 2000]),
                rating_x100=rng.randint(300, 500),
                status=MerchantStatus.APPROVED,
            )
        )
        if len(batch) == 5000:
            await Merchant.bulk_create(batch)
            batch = []
    if batch:
        await Merchant.bulk_create(batch)
    consumers = await User.bulk_create([User(nickname=f"c{i}") for i in range(200)])
    consumers = await User.filter(role=Role.CONSUMER).order_by("id")
    mids = [m["id"] for m in await Merchant.all().values("id")]
    now = datetime.now(UTC)
    orders = [
        Order(
            consumer_id=rng.choice(consumers).id,
            merchant_id=rng.choice(mids),
            idempotency_key=f"bench{i}",
            amount_fen=rng.randint(1_000, 50_000),
            cash_fen=0,
            discount_bps=1000,
            discount_fen=0,
            channel="sandbox",
            status=OrderStatus.PAID,
            policy="zhongdian",
            paid_at=now - timedelta(minutes=rng.randint(0, 7 * 24 * 60)),
        )
        for i in range(N_ORDERS)
    ]
    await Order.bulk_create(orders, batch_size=1000)
    await reconcile_orders()
    r = get_redis()
    keys = [k async for k in r.scan_iter(match=KEY_PREFIX + "*", count=1000)]
    if keys:
        await r.delete(*keys)
    counts = await index.rebuild()
    print(f"seeded {counts} in {time.perf_counter() - t:.1f}s", flush=True)
    await close_db()
    await close_redis()


# ------------------------------------------------------------------ load generator


async def _one_conn(
    port: int,
    bodies: list[bytes],
    path: str,
    stop_at: float,
    record_from: float,
    lat: list[float],
    idx: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: {n}\r\n\r\n"
    )
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            body = bodies[idx[0] % len(bodies)]
            idx[0] += 1
            writer.write(head.format(n=len(body)).encode() + body)
            t0 = time.perf_counter()
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            payload = await reader.readexactly(length)
            t1 = time.perf_counter()
            if not status.startswith(b"HTTP/1.1 200") or b'"errors"' in payload:
                raise RuntimeError(f"bad response: {status!r} {payload[:300]!r}")
            if t0 >= record_from:
                lat.append(t1 - t0)
    finally:
        writer.close()


async def load(
    port: int, path: str, bodies: list[bytes], seconds: float, warmup: float, lat: list[float]
) -> None:
    """Drive one server for `seconds` (after `warmup`), appending latencies to `lat`."""
    start = time.perf_counter()
    record_from = start + warmup
    stop_at = record_from + seconds
    idx = [random.randrange(len(bodies))]
    await asyncio.gather(
        *(_one_conn(port, bodies, path, stop_at, record_from, lat, idx) for _ in range(CONCURRENCY))
    )


def summary(lat: list[float], seconds: float) -> dict[str, float]:
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    return {
        "requests": len(lat),
        "rps": round(len(lat) / seconds, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(
    app: str, port: int, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    """One uvicorn server of `app` with the benchmark's settings (by default this run's
    database; bench/nearby_side_by_side.py gives each version of the code its own)."""
    env = env or {
        **os.environ,
        "DATABASE_URL": _db_url(DB_NAME),
        "REDIS_URL": REDIS_URL,
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "GEO_KEY_PREFIX": KEY_PREFIX,
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(cmd, cwd=cwd, env=env)


async def _wait_up(port: int) -> None:
    for _ in range(200):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


async def breakdown(points: list[tuple[float, float]], n: int = 300) -> dict[str, dict[str, float]]:
    """Where a request's time goes, in this process, one call at a time: wall ms per call
    (with the wait for Redis) and CPU ms per call (this process's own work, which is what
    limits a server under concurrent load)."""
    from app.adapters.discovery import index
    from app.adapters.discovery.nearby import MAX_CANDIDATES, RADIUS_SLACK_M
    from app.api.graphql.core.context import Context
    from app.api.graphql.schema import schema
    from app.api.http import create_app
    from app.infra.redis import close_redis, get_redis
    from app.services.discovery import nearby  # what the resolver calls

    r = get_redis()
    pts = points[:n]
    app = create_app(manage_db=False)

    async def geosearch(p: tuple[float, float]) -> None:
        await r.geosearch(
            index.K_ALL,
            longitude=p[1],
            latitude=p[0],
            radius=3000 + RADIUS_SLACK_M,
            unit="m",
            sort="ASC",
            count=MAX_CANDIDATES,
        )

    async def domain(p: tuple[float, float]) -> None:
        await nearby(p[0], p[1], cursors=False)

    async def domain_snapshot(p: tuple[float, float]) -> None:
        await nearby(p[0], p[1])

    async def graphql(p: tuple[float, float]) -> None:
        res = await schema.execute(
            QUERY,
            variable_values={"loc": {"lat": p[0], "lng": p[1], "coordSystem": "GCJ02"}},
            context_value=Context(request=None, request_id="bench"),
        )
        assert not res.errors, res.errors

    async def asgi(p: tuple[float, float]) -> None:
        body = json.dumps(
            {
                "query": QUERY,
                "variables": {"loc": {"lat": p[0], "lng": p[1], "coordSystem": "GCJ02"}},
            }
        ).encode()
        await _asgi_post(app, "/graphql", body)

    out = {}
    for name, fn in (
        ("GEOSEARCH alone (what the bare endpoint does)", geosearch),
        ("nearby(), no cursor asked (the benchmark query)", domain),
        ("nearby() with a scroll snapshot (a cursor asked)", domain_snapshot),
        ("GraphQL schema.execute of the query, no HTTP", graphql),
        ("the whole app (ASGI) for the query, no network", asgi),
    ):
        for p in pts[:20]:
            await fn(p)
        wall = cpu = math.inf
        for _ in range(3):  # the best of three: the machine is shared
            t, c = time.perf_counter(), time.process_time()
            for p in pts:
                await fn(p)
            wall = min(wall, (time.perf_counter() - t) / len(pts) * 1000)
            cpu = min(cpu, (time.process_time() - c) / len(pts) * 1000)
        out[name] = {"wall_ms": round(wall, 3), "cpu_ms": round(cpu, 3)}
    await close_redis()
    return out


async def _asgi_post(app, path: str, body: bytes) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sent[0]["status"] == 200 and b'"errors"' not in payload, payload[:300]
    return payload


async def main() -> int:
    try:
        return await run()
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


async def run() -> int:
    await seed()
    rng = random.Random(7)
    points = [_point(rng, QUERY_HALF_SIDE_M) for _ in range(5000)]
    gql_bodies = [
        json.dumps(
            {"query": QUERY, "variables": {"loc": {"lat": la, "lng": ln, "coordSystem": "GCJ02"}}}
        ).encode()
        for la, ln in points
    ]
    cursor_bodies = [
        json.dumps(
            {
                "query": QUERY_CURSOR,
                "variables": {"loc": {"lat": la, "lng": ln, "coordSystem": "GCJ02"}},
            }
        ).encode()
        for la, ln in points
    ]
    bare_bodies = [json.dumps({"lat": la, "lng": ln, "first": 20}).encode() for la, ln in points]
    targets = (
        ("bare GEOSEARCH (Starlette)", "bench.nearby_bare:app", "/nearby", bare_bodies, 18601),
        ("nearbyMerchants (GraphQL)", "app.main:app", "/graphql", gql_bodies, 18602),
        (
            "nearbyMerchants + endCursor (GraphQL, snapshot kept)",
            "app.main:app",
            "/graphql",
            cursor_bodies,
            18603,
        ),
    )
    # Both servers up, driven in alternating slices, so a change in the machine's load
    # during the run weighs on both alike.
    procs = [_serve(app, port) for _, app, _, _, port in targets]
    lat: dict[str, list[float]] = {name: [] for name, *_ in targets}
    cpu: dict[str, float] = {name: 0.0 for name, *_ in targets}
    try:
        for _, _, _, _, port in targets:
            await _wait_up(port)
        slice_s = DURATION / ROUNDS
        for rnd in range(ROUNDS):
            for (name, _, path, bodies, port), proc in zip(targets, procs, strict=True):
                await load(port, path, bodies, 0.0, WARMUP if rnd == 0 else 0.5, [])
                c0 = _cpu_s(proc.pid)
                await load(port, path, bodies, slice_s, 0.0, lat[name])
                cpu[name] += _cpu_s(proc.pid) - c0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    results = {name: summary(lat[name], DURATION) for name in lat}
    for name, r in results.items():
        # the server process's own CPU time per request (user + system)
        r["server_cpu_ms_per_request"] = round(cpu[name] / max(len(lat[name]), 1) * 1000, 3)
    for name, r in results.items():
        print(name, r, flush=True)
    split = await breakdown(points)
    print("in-process ms per call:", split, flush=True)
    bare, full = results["bare GEOSEARCH (Starlette)"], results["nearbyMerchants (GraphQL)"]
    ratio = round(full["rps"] / bare["rps"], 3)
    out = {
        "merchants": N_MERCHANTS,
        "concurrency": CONCURRENCY,
        "duration_s": DURATION,
        "results": results,
        "ratio_rps": ratio,
        "in_process_ms_per_call": split,
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    Path(ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench/results/nearby.json").write_text(json.dumps(out, indent=2) + "\n")
    print("\n| endpoint | req/s | p50 ms | p99 ms | server CPU ms/request |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['server_cpu_ms_per_request']} |"
        )
    print(f"\nratio (GraphQL / bare, req/s): {ratio}")
    print("\n| in process, one call at a time | wall ms per call | CPU ms per call |")
    print("|---|---|---|")
    for name, ms in split.items():
        print(f"| {name} | {ms['wall_ms']} | {ms['cpu_ms']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
