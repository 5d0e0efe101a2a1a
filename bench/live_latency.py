"""Benchmark: from a payment's notification to the POS's live event, across workers.

One command (PostgreSQL and Redis running locally):

    .venv/bin/python bench/live_latency.py

It creates a scratch PostgreSQL database (dropped at the end), a store with a POS
device and a consumer, and N unpaid orders (sandbox channel), then starts two API
workers (`uvicorn app.main:app`, one process each, sharing the database and Redis).
The POS connects to worker 1 over graphql-transport-ws (tests/live_client.py, the
protocol by hand) and subscribes to `orderEvents` of its store. Then, one order at a
time, the sandbox provider's signed notification that the order was paid is POSTed
to `/pay/notify/sandbox` on worker 2 and the clock runs until the POS holds the
`PAID` event of that order: the notification's handling (verification, the payment's
statement, its commit), the outbox's in-process delivery on worker 2, the Redis
publish, worker 1's pub/sub connection and its fan-out, the WebSocket frame. Each order
is timed from just before the POST; the answer to the POST is not waited for first.
Then the same with the notification on worker 1 (the POS's own worker), for
comparison. p50/p99 are printed and written to bench/results/live_latency.json.

The notifications are sent as the sandbox provider signs them, without its pay page:
the provider never saw those payments, so the split each payment starts afterwards is
refused by it (logged as warnings, hence the workers' LOG_LEVEL=ERROR).

Environment: BENCH_PG (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_REDIS (default redis://127.0.0.1:6379/0: channels under `live:0:`), BENCH_ORDERS
(200 per round).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.infra import live  # noqa: E402
from app.infra.redis import get_redis  # noqa: E402
from tests.fakes.server import free_port  # noqa: E402
from tests.live_client import LiveSocket, session  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
N_ORDERS = int(os.environ.get("BENCH_ORDERS", "200"))
WARMUP = 10
DB_NAME = f"bench_live_{secrets.token_hex(4)}"
SUBSCRIPTION = """subscription($m: ID!) { orderEvents(merchantId: $m) { kind orderId } }"""


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


async def seed(n: int) -> dict:
    """A store, its device's token, a consumer, and n unpaid orders with what their
    notification carries."""
    from app.api.graphql.core.ids import encode_id
    from app.domain import merchants
    from app.domain.principals import Kind
    from app.domain.tokens import issue_pair
    from app.infra.db import close_db, init_db, migrate
    from app.models.merchants import CoordSystem
    from app.models.payments import Payment
    from app.models.users import Role, User
    from app.services import checkout

    await _admin(f'CREATE DATABASE "{DB_NAME}"')
    await migrate()
    await close_db()
    await init_db()
    owner = await User.create(phone="13900000001", role=Role.MERCHANT_OWNER, nickname="owner")
    consumer = await User.create(phone="13900000002", role=Role.CONSUMER, nickname="buyer")
    store = await merchants.apply_merchant(
        owner_id=owner.id, name="bench store", category="food", address="1 Bench Road",
        location=merchants.Location(Decimal("31.2304"), Decimal("121.4737"), CoordSystem.GCJ02),
        region_code="310101", discount_bps=1000,
    )  # fmt: skip
    await merchants.approve_merchant(store.id)
    device, _ = await merchants.register_pos_device(owner.id, store.id, "BENCH-POS")
    token = (await issue_pair(device.id, Kind.DEVICE)).access_token
    made = []
    for i in range(n):
        order = await checkout.create_order(
            consumer_id=consumer.id, merchant_id=store.id, amount_fen=1_000 + i,
            idempotency_key=f"bench-{i}",
        )  # fmt: skip
        payment = await Payment.get(order_id=order.id)
        made.append(
            {
                "gid": str(encode_id("Order", order.id)),
                "event": {
                    "event": "payment.succeeded",
                    "out_trade_no": payment.out_trade_no,
                    "txn_id": f"SB-bench-{order.id}",
                    "amount_fen": order.cash_fen,
                },
            }
        )
    await close_db()
    return {
        "merchant": str(encode_id("Merchant", store.id)),
        "merchant_id": store.id,
        "token": token,
        "orders": made,
    }


def _serve(port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _db_url(DB_NAME), "REDIS_URL": REDIS_URL,
           "APP_ENV": "test", "LOG_LEVEL": "ERROR"}  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


async def _wait_up(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=1) as c:
        for _ in range(300):
            try:
                if (await c.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not start")


async def _heard(channel: str) -> None:
    """Until worker 1's hub has subscribed to the store's channel."""
    for _ in range(500):
        [(_, count)] = await get_redis().pubsub_numsub(channel)
        if count:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError(f"nobody subscribed to {channel}")


async def _paid_event(pos: LiveSocket, gid: str) -> None:
    while True:
        message = await pos.receive(wait_s=10)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["orderEvents"]
        if event == {"kind": "PAID", "orderId": gid}:
            return


async def measure(
    pos: LiveSocket, notify_base: str, batch: list[dict]
) -> tuple[list[float], list[float]]:
    """(to the POS's event, to the notification's answer) per order, in seconds."""
    from app.dev.sandbox_provider import signed_notification

    heard, answered = [], []
    async with httpx.AsyncClient(base_url=notify_base, timeout=10) as c:
        for o in batch:
            headers, body = signed_notification(o["event"])
            t0 = time.perf_counter()

            async def post(t0: float = t0, headers: dict = headers, body: bytes = body) -> None:
                resp = await c.post("/pay/notify/sandbox", content=body, headers=headers)
                answered.append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.text

            posting = asyncio.create_task(post())
            await _paid_event(pos, o["gid"])
            heard.append(time.perf_counter() - t0)
            await posting
    return heard, answered


def summary(lat: list[float]) -> dict[str, float]:
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "n": len(lat),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2),
        "mean_ms": round(statistics.fmean(lat) * 1000, 2),
    }


async def run() -> dict:
    os.environ["DATABASE_URL"] = _db_url(DB_NAME)
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["APP_ENV"] = "test"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup = await seed(WARMUP + 2 * N_ORDERS)
    ports = [free_port(), free_port()]
    procs = [_serve(p) for p in ports]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base in bases:
            await _wait_up(base)
        ws_1 = bases[0].replace("http://", "ws://") + "/graphql"
        async with session(ws_1, setup["token"]) as pos:
            await pos.subscribe("1", SUBSCRIPTION, {"m": setup["merchant"]})
            await _heard(live.merchant_channel(setup["merchant_id"]))
            orders = setup["orders"]
            await measure(pos, bases[1], orders[:WARMUP])
            cross, cross_answer = await measure(pos, bases[1], orders[WARMUP : WARMUP + N_ORDERS])
            same, same_answer = await measure(pos, bases[0], orders[WARMUP + N_ORDERS :])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
    return {
        "event at the POS, notification on worker 2, POS on worker 1": summary(cross),
        "event at the POS, notification and POS on worker 1": summary(same),
        # for scale: the payment's own handling, to the provider's answer
        "notification answered (worker 2)": summary(cross_answer),
        "notification answered (worker 1)": summary(same_answer),
    }


async def main() -> None:
    try:
        results = await run()
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    for name, r in results.items():
        print(f"{name}: {r}", flush=True)
    out = ROOT / "bench" / "results" / "live_latency.json"
    out.parent.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out.write_text(json.dumps({"results": results, "machine": machine}, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
