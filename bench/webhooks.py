"""Benchmark: partner webhook deliveries per second, and the delay from an event's commit
to its delivery, against a bare POST loop to the same receiver.

One command (PostgreSQL and Redis running locally):

    .venv/bin/python bench/webhooks.py

It creates a scratch PostgreSQL database (dropped at the end) with a store, a partner
app given that store and a subscription to `order.paid` at a receiver on 127.0.0.1 —
a process of its own (uvicorn, a bare ASGI app answering 200 "ok" and noting when
each request arrived; it does not verify signatures, so the figures are the sender's).
This process plays the API and the worker (`webhook_queue = "local"`, the default
`webhook_concurrency` of 20 attempts at once), with the webhooks' outbox consumer
alone registered. The machine is shared, so rounds 1-3 run BENCH_ROUNDS times,
alternating, each throughput next to a baseline measured just before it; the medians
and each round's ratio are reported:

1. baseline: a bare httpx POST loop to the same receiver — the same client settings,
   body size and concurrency (20), no database, no signature: POSTs/s;
2. the worker's sweep: N deliveries already owed (made by the consumer's own insert),
   attempted by `sweep()` until none is pending: each is claimed (its lease), signed
   (EdDSA), POSTed, and its attempt and outcome recorded — deliveries/s, and its ratio
   to the baseline;
3. end to end, as fast as events come: N `order.paid` events, each written in its own
   transaction and published after its commit, as the services do; the clock runs
   until the receiver holds all N — deliveries/s;
4. latency: events at a steady rate (BENCH_RATE a second), each timed from its commit
   to its arrival at the receiver: p50 / p99 / max.

Results are printed and written to bench/out/webhooks.json. Environment: BENCH_PG
(admin URL, default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS (default
redis://127.0.0.1:6379/0), BENCH_N (1000 a round), BENCH_ROUNDS (3), BENCH_LATENCY_N
(300), BENCH_RATE (50).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
N = int(os.environ.get("BENCH_N", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LATENCY_N = int(os.environ.get("BENCH_LATENCY_N", "300"))
RATE = float(os.environ.get("BENCH_RATE", "50"))
CONCURRENCY = 20
DB_NAME = f"bench_webhooks_{secrets.token_hex(4)}"


# ------------------------------------------------------------------ the receiver process


def receiver_app() -> Any:
    """A bare ASGI receiver: 200 "ok" to every POST; `GET /arrivals` answers what
    arrived ({Webhook-Id or "-": [wall-clock time, createdAt or null]})."""
    arrivals: dict[str, list[Any]] = {}
    baseline = [0]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        now = time.time()
        if scope["method"] == "GET":
            out = json.dumps({"arrivals": arrivals, "baseline": baseline[0]}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": out})
            return
        headers = dict(scope["headers"])
        wid = headers.get(b"webhook-id")
        if wid is None:
            baseline[0] += 1
        else:
            created = json.loads(body).get("createdAt")
            arrivals.setdefault(wid.decode(), [now, created])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def run_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app(), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="off")  # fmt: skip


# ------------------------------------------------------------------ the bench


def _db_url(name: str) -> str:
    p = urlsplit(PG_ADMIN)
    return urlunsplit((p.scheme, p.netloc, "/" + name, "", ""))


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def main() -> dict[str, Any]:
    from tests.fakes.server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    recv = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--receiver", str(port), cwd=ROOT
    )
    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    os.environ.update(DATABASE_URL=_db_url(DB_NAME), REDIS_URL=REDIS_URL, APP_ENV="test",
                      LOG_LEVEL="ERROR")  # fmt: skip
    try:
        return await _rounds(url)
    finally:
        recv.terminate()
        await asyncio.wait_for(recv.wait(), 10)
        from app.infra.db import close_db

        await close_db()
        await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


async def _arrivals(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as c:
        return (await c.get(base)).json()


async def _rounds(url: str) -> dict[str, Any]:
    from decimal import Decimal

    from tortoise import connections
    from tortoise.transactions import in_transaction

    from app.adapters.webhook_http import make_client
    from app.domain import merchants, partners, webhook_keys, webhooks
    from app.domain.audit import OPERATOR
    from app.infra import outbox
    from app.infra.db import close_db, init_db, migrate
    from app.infra.outbox import EventKind
    from app.models.merchants import CoordSystem
    from app.models.users import Role, User
    from app.models.webhooks import WebhookDelivery
    from app.services import webhooks as delivering

    await migrate()
    await close_db()
    await init_db()
    # the webhooks' consumer alone: the heat map and live subscriptions (the other
    # consumers of order.paid) are not what is measured, and these orders are not rows
    delivering.register()
    owner = await User.create(phone="13900000001", role=Role.MERCHANT_OWNER, nickname="owner")
    store = await merchants.apply_merchant(
        owner_id=owner.id, name="bench store", category="food", address="1 Bench Road",
        location=merchants.Location(Decimal("31.2304"), Decimal("121.4737"), CoordSystem.GCJ02),
        region_code="310101", discount_bps=1000,
    )  # fmt: skip
    await merchants.approve_merchant(store.id)
    app = (
        await partners.create_app(
            "Bench", ("read:orders", "manage:webhooks"), merchant_ids=[store.id]
        )  # fmt: skip
    ).app
    sub = await webhooks.create_subscription(app.id, url, ["order.paid"], actor=OPERATOR)
    await webhook_keys.signing_key()  # made before the clock runs
    stats_url = url.replace("/hooks", "/arrivals")
    for _ in range(100):  # the receiver is up
        try:
            await _arrivals(stats_url)
            break
        except httpx.HTTPError:
            await asyncio.sleep(0.1)

    def paid(i: int) -> outbox.Event:
        return outbox.event(
            EventKind.ORDER_PAID, f"order:{i}", order_id=i, consumer_id=1,
            merchant_id=store.id, amount_fen=1000 + i, cash_fen=1000 + i, voucher_fen=0,
            channel="wechat", paid_at="2026-12-07T08:00:00+08:00",
            merchant_lat=31.2304, merchant_lng=121.4737,
        )  # fmt: skip

    sample = webhooks.body_of(paid(0), uuid.uuid4()).encode()
    out: dict[str, Any] = {"n": N, "concurrency": CONCURRENCY, "body_bytes": len(sample)}

    # 1. baseline: a bare POST loop, the same client, body and concurrency
    async def baseline() -> float:
        client = make_client()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post() -> None:
            async with gate:
                headers = {"content-type": "application/json"}
                r = await client.post(url, content=sample, headers=headers)
                assert r.status_code == 200

        await asyncio.gather(*(post() for _ in range(100)))  # warm-up
        t0 = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(N)))
        took = time.perf_counter() - t0
        await client.aclose()
        return N / took

    conn = connections.get("default")

    async def sweep_round(r: int) -> float:
        """2. the worker's sweep over N deliveries already owed"""
        for i in range(N):
            await delivering._insert(conn, [(paid(10_000_000 * (r + 1) + i), sub.id)])
        t0 = time.perf_counter()
        while await delivering.sweep(200):
            pass
        took = time.perf_counter() - t0
        pending = await WebhookDelivery.exclude(status="delivered").count()
        assert pending == 0, pending
        return N / took

    async def e2e_round(r: int) -> float:
        """3. end to end: N events, each committed and published as the services do"""
        before = len((await _arrivals(stats_url))["arrivals"])
        t0 = time.perf_counter()
        for i in range(N):
            e = paid(100_000_000 * (r + 1) + i)
            async with in_transaction() as c:
                await outbox.write(c, [e])
            outbox.publish([e])
        await outbox.drain()
        await delivering.settled()
        took = time.perf_counter() - t0
        got = len((await _arrivals(stats_url))["arrivals"]) - before
        assert got == N, got
        return N / took

    # The machine is shared: the rounds alternate, each measured next to a baseline
    # of its own, and the medians are reported with each round's ratio.
    rounds = []
    for r in range(ROUNDS):
        b1 = await baseline()
        sw = await sweep_round(r)
        b2 = await baseline()
        ee = await e2e_round(r)
        rounds.append(
            {
                "baseline_posts_per_s": [round(b1, 1), round(b2, 1)],
                "sweep_deliveries_per_s": round(sw, 1),
                "e2e_deliveries_per_s": round(ee, 1),
                "sweep_ratio": round(sw / b1, 3),
                "e2e_ratio": round(ee / b2, 3),
            }
        )
    out["rounds"] = rounds
    med = statistics.median
    out["median"] = {
        "baseline_posts_per_s": round(
            med([x for r in rounds for x in r["baseline_posts_per_s"]]), 1
        ),
        "sweep_deliveries_per_s": round(med([r["sweep_deliveries_per_s"] for r in rounds]), 1),
        "e2e_deliveries_per_s": round(med([r["e2e_deliveries_per_s"] for r in rounds]), 1),
        "sweep_ratio": round(med([r["sweep_ratio"] for r in rounds]), 3),
        "e2e_ratio": round(med([r["e2e_ratio"] for r in rounds]), 3),
    }

    # 4. latency at a steady rate: commit -> arrival
    committed: dict[str, float] = {}
    interval = 1 / RATE
    t_next = time.perf_counter()
    for i in range(LATENCY_N):
        e = paid(30_000_000 + i)
        async with in_transaction() as c:
            await outbox.write(c, [e])
        committed[str(e.id)] = time.time()
        outbox.publish([e])
        t_next += interval
        await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
    await outbox.drain()
    await delivering.settled()
    bodies = {
        str(d.webhook_id): json.loads(d.body)["eventId"]
        for d in await WebhookDelivery.filter(event_kind="order.paid")
    }
    arrivals = (await _arrivals(stats_url))["arrivals"]
    lat = [
        (arrivals[wid][0] - committed[eid]) * 1000
        for wid, eid in bodies.items()
        if eid in committed and wid in arrivals
    ]
    assert len(lat) == LATENCY_N, len(lat)
    out["latency_ms"] = {
        "n": len(lat),
        "rate_per_s": RATE,
        "p50": round(statistics.median(lat), 1),
        "p99": round(pct(lat, 0.99), 1),
        "max": round(max(lat), 1),
    }
    await delivering.close_client()
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        run_receiver(int(sys.argv[2]))
        raise SystemExit(0)
    result = asyncio.run(main())
    print(json.dumps(result, indent=2))
    dest = ROOT / "bench" / "out"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "webhooks.json").write_text(json.dumps(result, indent=2))
