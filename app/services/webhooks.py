"""Partner webhooks, delivered from the outbox: nothing is lost if a worker dies.

1. The outbox consumer `WEBHOOKS` takes each event of a kind someone subscribed to and,
   for every subscription owed it (app/domain/webhooks.py: the kind, the app's scope
   and reach), inserts a delivery row — once per (subscription, event), so the outbox
   delivering the event again makes no second one. New rows are handed on at once (a
   task of this process, or an arq job: `webhook_queue`).
2. An attempt claims its delivery (a lease of the timeout and a margin, its attempt
   counted), signs the body (app/domain/webhook_keys.py) and POSTs it
   (app/adapters/webhook_http.py), then records the attempt and the outcome:
   - 2xx: delivered.
   - 410 Gone: failed at once (the receiver says the endpoint is gone).
   - anything else (another status, a redirect, a timeout, a refused connection):
     due again after the next step of `webhook_retry_schedule_s` (±jitter); when the
     schedule has run out, failed.
   A failed delivery counts against its subscription: it becomes `failing`, and
   `disabled` when it has been failing for `webhook_disable_after_s` with nothing
   delivered. A delivery that succeeds makes it `active` again.
3. The worker's sweep (`sweep`, every few seconds) attempts every pending delivery
   that is due and not leased: retries, deliveries whose job was lost, and those of
   a worker killed mid-attempt once its lease has lapsed — with the same
   `Webhook-Id`, so a receiver that got the first one drops the repeat.

At least once: a receiver may see a delivery twice, never zero times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from arq.connections import ArqRedis, RedisSettings, create_pool
from tortoise import connections

from app.adapters import webhook_http
from app.domain import webhook_keys
from app.domain.webhooks import EVENT_SCOPES, Reach, body_of, private_targets_allowed
from app.infra.config import Settings, get_settings
from app.infra.outbox import Event, EventKind, register_consumer
from app.infra.sql import fetch, run
from app.models.merchants import Merchant

log = logging.getLogger(__name__)

WEBHOOKS = "webhooks"  # the outbox consumer's name
JOB = "deliver_webhook"
_LEASE_MARGIN_S = 20.0

_tasks: set[asyncio.Task[Any]] = set()
_pools: dict[str, ArqRedis] = {}
_client: httpx.AsyncClient | None = None
_gate_sem: asyncio.Semaphore | None = None


def register() -> None:
    register_consumer(WEBHOOKS, on_events, tuple(EVENT_SCOPES))


# ------------------------------------------------------------------ events -> deliveries


def _json_list(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str | bytes) else list(value or [])


async def on_events(events: Sequence[Event]) -> None:
    """The events' deliveries, one per subscription owed each (none made twice): the
    subscriptions of a batch looked up in one statement, its deliveries inserted in
    another."""
    about = [
        e
        for e in events
        if e.payload.get("merchant_id") is not None or e.kind == EventKind.RELEASE_PAID
    ]
    if not about:
        return
    conn = connections.get("default")
    subs = await fetch(
        conn,
        "SELECT s.id, s.events, a.scopes, a.merchant_ids, a.region_codes "
        "FROM webhook_subscriptions s JOIN partner_apps a ON a.id = s.app_id "
        "WHERE a.is_active AND s.status <> 'disabled' AND jsonb_exists_any(s.events, ?::text[])",
        [sorted({e.kind for e in about})],
    )
    if not subs:
        return
    merchant_ids = {int(m) for e in about if (m := e.payload.get("merchant_id")) is not None}
    regions = dict(
        await Merchant.filter(id__in=merchant_ids).values_list("id", "region_code")
        if merchant_ids
        else []
    )
    watching = [
        (
            set(_json_list(s["events"])),
            Reach.of(_json_list(s["merchant_ids"]), _json_list(s["region_codes"]), s["scopes"]),
            int(s["id"]),
        )
        for s in subs
    ]
    owed: list[tuple[Event, int]] = []
    for event in about:
        raw = event.payload.get("merchant_id")
        merchant_id = int(raw) if raw is not None else None
        code = str(regions.get(merchant_id) or "") if merchant_id is not None else ""
        owed += [
            (event, sub_id)
            for kinds, reach, sub_id in watching
            if event.kind in kinds and reach.owed(event.kind, merchant_id, code)
        ]
    if owed:
        await dispatch(await _insert(conn, owed))


async def _insert(conn: Any, owed: Sequence[tuple[Event, int]]) -> list[int]:
    """A delivery row per (event, subscription), unless it has one: the new rows' ids."""
    ids = [uuid.uuid4() for _ in owed]
    rows = await fetch(
        conn,
        "INSERT INTO webhook_deliveries (webhook_id, subscription_id, event_id, event_kind, body, "
        "status, attempts, next_attempt_at, event_at, created_at) "
        "SELECT i, s, e, k, b, 'pending', 0, now(), t, now() "
        "FROM unnest(?::uuid[], ?::bigint[], ?::uuid[], ?::text[], ?::text[], "
        "?::timestamptz[]) AS v(i, s, e, k, b, t) "
        "ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING id",
        [
            ids,
            [sub_id for _, sub_id in owed],
            [event.id for event, _ in owed],
            [event.kind for event, _ in owed],
            [body_of(event, i) for (event, _), i in zip(owed, ids, strict=True)],
            [event.created_at for event, _ in owed],
        ],
    )
    return [int(r["id"]) for r in rows]


# ------------------------------------------------------------------ handing on


async def dispatch(delivery_ids: Iterable[int], settings: Settings | None = None) -> None:
    """Attempt these deliveries now: in this process, or on the arq worker. A delivery
    that is not handed on is the sweep's."""
    s = settings or get_settings()
    ids = list(delivery_ids)
    if not ids:
        return
    if s.webhook_queue == "local":
        task = asyncio.get_running_loop().create_task(_attempt_all(ids))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        return
    try:
        pool = await _pool(s)
        for i in ids:
            await pool.enqueue_job(JOB, i, _job_id=f"webhook:{i}:0")
    except Exception as exc:  # noqa: BLE001 - pending in its row: the sweep sends it
        log.warning("webhook deliveries not handed to the worker", exc_info=exc)


async def _enqueue_retry(delivery_id: int, attempt: int, at: datetime) -> None:
    s = get_settings()
    if s.webhook_queue != "arq":
        return  # the sweep
    try:
        pool = await _pool(s)
        await pool.enqueue_job(
            JOB, delivery_id, _job_id=f"webhook:{delivery_id}:{attempt}", _defer_until=at
        )
    except Exception as exc:  # noqa: BLE001 - the sweep
        log.warning("webhook retry not handed to the worker", exc_info=exc)


async def _pool(s: Settings) -> ArqRedis:
    pool = _pools.get(s.redis_url)
    if pool is None:
        pool = _pools[s.redis_url] = await create_pool(RedisSettings.from_dsn(s.redis_url))
    return pool


async def settled() -> None:
    """Wait for this process's attempts under way (tests, a process that stops)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


def _gate() -> asyncio.Semaphore:
    """At most `webhook_concurrency` attempts at once in this process, however many
    batches are under way."""
    global _gate_sem
    if _gate_sem is None:
        _gate_sem = asyncio.Semaphore(get_settings().webhook_concurrency)
    return _gate_sem


async def _attempt_all(ids: Sequence[int]) -> None:
    gate = _gate()

    async def one(i: int) -> None:
        async with gate:
            try:
                await attempt(i)
            except Exception:  # noqa: BLE001 - its lease lapses: the sweep retries it
                log.exception("webhook delivery %s failed to run", i)

    await asyncio.gather(*(one(i) for i in ids))


# ------------------------------------------------------------------ attempts

_RETURNING = (
    "RETURNING d.id, d.webhook_id, d.body, d.attempts, d.subscription_id, s.url, "
    "s.status AS sub_status, a.is_active AS app_active"
)
_SET = "SET attempts = d.attempts + 1, lease_until = now() + ?::float8 * interval '1 second'"
_CLAIMABLE = (
    "d.status = 'pending' AND d.next_attempt_at <= now() "
    "AND (d.lease_until IS NULL OR d.lease_until < now())"
)


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: uuid.UUID
    body: str
    attempts: int  # this attempt's number since the delivery was (re)started
    subscription_id: int
    url: str
    sub_status: str
    app_active: bool


def _claimed(rows: list[dict[str, Any]]) -> list[Claimed]:
    return [
        Claimed(
            int(r["id"]),
            r["webhook_id"],
            r["body"],
            int(r["attempts"]),
            int(r["subscription_id"]),
            r["url"],
            r["sub_status"],
            bool(r["app_active"]),
        )
        for r in rows
    ]


def _lease_s(s: Settings) -> float:
    return s.webhook_timeout_s + _LEASE_MARGIN_S


async def attempt(delivery_id: int) -> str | None:
    """One attempt at a delivery if it is due and nobody holds it; its status after."""
    s = get_settings()
    rows = await fetch(
        connections.get("default"),
        f"UPDATE webhook_deliveries d {_SET} FROM webhook_subscriptions s "
        "JOIN partner_apps a ON a.id = s.app_id "
        f"WHERE d.id = ?::bigint AND s.id = d.subscription_id AND {_CLAIMABLE} {_RETURNING}",
        [_lease_s(s), delivery_id],
    )
    claimed = _claimed(rows)
    return await send(claimed[0]) if claimed else None


async def claim_due(limit: int) -> list[Claimed]:
    s = get_settings()
    rows = await fetch(
        connections.get("default"),
        "WITH due AS (SELECT d.id FROM webhook_deliveries d "
        f"WHERE {_CLAIMABLE} ORDER BY d.next_attempt_at LIMIT ?::int FOR UPDATE SKIP LOCKED) "
        f"UPDATE webhook_deliveries d {_SET} FROM due, webhook_subscriptions s "
        "JOIN partner_apps a ON a.id = s.app_id "
        f"WHERE d.id = due.id AND s.id = d.subscription_id {_RETURNING}",
        [limit, _lease_s(s)],
    )
    return _claimed(rows)


async def sweep(limit: int | None = None) -> int:
    """Attempt every delivery that is due and not held (the worker, every few seconds);
    how many were attempted."""
    s = get_settings()
    claimed = await claim_due(limit or s.webhook_sweep_batch)
    gate = _gate()

    async def one(c: Claimed) -> None:
        async with gate:
            try:
                await send(c)
            except Exception:  # noqa: BLE001 - its lease lapses: a later sweep retries it
                log.exception("webhook delivery %s failed to run", c.id)

    await asyncio.gather(*(one(c) for c in claimed))
    return len(claimed)


def client() -> httpx.AsyncClient:
    global _client
    if _client is None or _client.is_closed:
        _client = webhook_http.make_client()
    return _client


async def close_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def headers_for(
    body: bytes, delivery_id: uuid.UUID, key: webhook_keys.SigningKey
) -> dict[str, str]:
    ts = int(time.time())
    return {
        "webhook-id": str(delivery_id),
        "webhook-timestamp": str(ts),
        "webhook-signature": webhook_keys.sign(body, key, str(delivery_id), ts),
    }


async def send(c: Claimed) -> str:
    """POST a claimed delivery and record what came of it; its status after."""
    s = get_settings()
    if c.sub_status == "disabled" or not c.app_active:
        reason = "SubscriptionDisabled" if c.app_active else "AppRevoked"
        await _record(c, "failed", None, reason, count_failure=False)
        return "failed"
    key = await webhook_keys.signing_key()
    body = c.body.encode()
    started = datetime.now(UTC)
    outcome = await webhook_http.post(
        client(),
        c.url,
        body,
        {**headers_for(body, c.webhook_id, key), "webhook-attempt": str(c.attempts)},
        timeout_s=s.webhook_timeout_s,
        excerpt_max=s.webhook_response_excerpt,
        private_ok=private_targets_allowed(s),
    )
    attempt = [started, outcome.duration_ms, outcome.status_code, outcome.error,
               outcome.excerpt, key.kid]  # fmt: skip
    if outcome.delivered:
        await _record(c, "delivered", outcome.status_code, None, attempt)
        return "delivered"
    schedule = s.webhook_retry_schedule_s
    if outcome.status_code == 410 or c.attempts > len(schedule):
        await _record(c, "failed", outcome.status_code, outcome.error, attempt)
        return "failed"
    delay = schedule[c.attempts - 1] * (1 + random.uniform(-1, 1) * s.webhook_retry_jitter)
    at = datetime.now(UTC) + timedelta(seconds=delay)
    await _record(c, "pending", outcome.status_code, outcome.error, attempt, next_at=at)
    await _enqueue_retry(c.id, c.attempts, at)
    return "pending"


# What an attempt leaves, in one statement (one round trip, atomic without a
# transaction): the attempt's log row, the delivery's state (still the claimer's: only
# while pending), and the subscription's — written only when it changes (or to note a
# success once a minute), not by every delivery.
_ATTEMPT = (
    "a AS (INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_ms, "
    "status_code, error, response_excerpt, kid) SELECT ?::bigint, "
    "(SELECT count(*) + 1 FROM webhook_attempts WHERE delivery_id = ?::bigint), "
    "?::timestamptz, ?::int, ?::int, ?::text, ?::text, ?::text), "
)
_DELIVERY = (
    "d AS (UPDATE webhook_deliveries SET status = ?::text, lease_until = NULL, "
    "next_attempt_at = coalesce(?::timestamptz, next_attempt_at), last_status_code = ?::int, "
    "last_error = ?::text, delivered_at = CASE WHEN ?::text = 'delivered' THEN now() END "
    "WHERE id = ?::bigint AND status = 'pending' RETURNING subscription_id) "
)
_SUCCEEDED = (
    "UPDATE webhook_subscriptions s SET consecutive_failures = 0, failing_since = NULL, "
    "last_delivered_at = now(), "
    "status = CASE WHEN s.status = 'failing' THEN 'active' ELSE s.status END FROM d "
    "WHERE s.id = d.subscription_id AND (s.consecutive_failures > 0 OR s.status = 'failing' "
    "OR s.last_delivered_at IS NULL OR s.last_delivered_at < now() - interval '60 seconds')"
)
_FAILED = (
    "UPDATE webhook_subscriptions s SET consecutive_failures = s.consecutive_failures + 1, "
    "failing_since = coalesce(s.failing_since, now()), status = CASE "
    "WHEN s.status = 'active' THEN 'failing' "
    "WHEN s.status = 'failing' AND s.failing_since < now() - ?::float8 * interval '1 second' "
    "THEN 'disabled' ELSE s.status END FROM d WHERE s.id = d.subscription_id"
)


async def _record(
    c: Claimed,
    status: str,
    code: int | None,
    error: str | None,
    attempt: list[Any] | None = None,
    *,
    next_at: datetime | None = None,
    count_failure: bool = True,
) -> None:
    values: list[Any] = []
    sql = "WITH "
    if attempt is not None:
        sql += _ATTEMPT
        values += [c.id, c.id, *attempt]
    sql += _DELIVERY
    values += [status, next_at, code, error, status, c.id]
    if status == "delivered":
        sql += _SUCCEEDED
    elif status == "failed" and count_failure:
        sql += _FAILED
        values.append(float(get_settings().webhook_disable_after_s))
    else:
        sql += "SELECT count(*) FROM d"
    await fetch(connections.get("default"), sql, values)


async def purge(age: timedelta) -> int:
    """Forget deliveries done (delivered or failed) more than `age` ago, and their
    attempts (the worker, daily)."""
    return await run(
        connections.get("default"),
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?",
        [datetime.now(UTC) - age],
    )
