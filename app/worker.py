"""The arq worker: settles due orders, evaluates both pools and reconciles payments
that no notification settled, and moves store ratings with the platform mean, on a
schedule.

    arq app.worker.WorkerSettings

Every evaluation is safe to repeat: a release already done is not redone, an
interrupted one resumes, and a Redis lock keeps two workers off the same pool.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from arq import cron
from arq.connections import RedisSettings

from app.dev import wiring
from app.domain import orders, policy_loads
from app.domain.ledger.seal import seal_pending
from app.domain.releases import POOLS, evaluate_pool
from app.infra import outbox
from app.infra.config import get_settings
from app.infra.db import close_db, init_db
from app.infra.errors import DomainError
from app.infra.logging import setup_logging
from app.infra.redis import close_redis
from app.services import consumers, export_job, read_audit
from app.services import exports as exporting
from app.services import webhooks as partner_webhooks
from app.services.reconcile import reconcile as reconcile_all
from app.services.reviews import refresh_ratings
from app.services.settlement import activate_due_lots

log = logging.getLogger(__name__)


async def evaluate_pools(ctx: dict[str, Any] | None = None) -> dict[str, str]:
    """Evaluate both pools once (today, Asia/Shanghai). Returns each pool's outcome."""
    outcomes: dict[str, str] = {}
    for pool in POOLS:
        try:
            ev = await evaluate_pool(pool)
        except DomainError as exc:  # e.g. LOCKED: another worker has it
            outcomes[pool] = exc.code
            continue
        outcomes[pool] = ev.note
        if ev.release is not None:
            log.info(
                "release %s of the %s pool: %s, paid %s fen, scale %s",
                ev.release.release_no,
                pool,
                ev.release.status,
                ev.release.paid_fen,
                ev.release.scale_factor,
            )
    return outcomes


async def seal_ledger(ctx: dict[str, Any] | None = None) -> int:
    """Link the ledger entries written since the last run into the hash chain."""
    return await seal_pending()


async def settle(ctx: dict[str, Any] | None = None) -> int:
    return await activate_due_lots(ctx)


async def reconcile(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    return await reconcile_all(ctx)


async def expire_counter_orders(ctx: dict[str, Any] | None = None) -> int:
    """Counter orders nobody confirmed within `COUNTER_ORDER_TTL_S` are closed, each
    with its `order.cancelled` event (a repeat closes nothing twice)."""
    return await orders.expire_counter_orders()


async def ratings(ctx: dict[str, Any] | None = None) -> int:
    """Every store's rating follows the platform's mean review (SPEC §14.2)."""
    return await refresh_ratings()


async def deliver_events(ctx: dict[str, Any] | None = None) -> int:
    """Events the in-process delivery missed, to their consumers (`app.infra.outbox`)."""
    return await outbox.sweep()


async def forget_events(ctx: dict[str, Any] | None = None) -> int:
    return await outbox.purge_done(timedelta(days=get_settings().outbox_keep_days))


async def prune_partner_reads(ctx: dict[str, Any] | None = None) -> int:
    """Partner read audit rows past `partner_read_audit_keep_days` go."""
    return await read_audit.prune()


async def run_export(ctx: dict[str, Any] | None, export_id: int) -> str | None:
    """One export, queued by `startExport` (or resumed: see `resume_exports`)."""
    status = await export_job.run_export(export_id)
    return status.value if status else None


async def resume_exports(ctx: dict[str, Any] | None = None) -> int:
    """Exports nobody runs — lost from the queue, or their worker died mid-file —
    resume from their last batch."""
    return await exporting.resume_stalled()


async def purge_exports(ctx: dict[str, Any] | None = None) -> int:
    """Files of exports past their expiry are deleted."""
    return await export_job.purge_expired()


async def deliver_webhook(ctx: dict[str, Any] | None, delivery_id: int) -> str | None:
    """One attempt at a partner webhook delivery (queued when it was made, or for its
    retry); nothing if it is not due or another worker holds it."""
    return await partner_webhooks.attempt(delivery_id)


async def sweep_webhooks(ctx: dict[str, Any] | None = None) -> int:
    """Webhook deliveries due and not held: retries, lost jobs, a dead worker's."""
    return await partner_webhooks.sweep()


async def forget_webhook_deliveries(ctx: dict[str, Any] | None = None) -> int:
    """Deliveries done more than `webhook_keep_days` ago leave the delivery log."""
    return await partner_webhooks.purge(timedelta(days=get_settings().webhook_keep_days))


async def startup(ctx: dict[str, Any]) -> None:
    setup_logging(get_settings())  # arq's handlers too: no tracebacks, no secrets
    wiring.install()  # the dev stand-ins, where settings turn them on
    consumers.install()
    await init_db()
    await policy_loads.record_load(by="worker")  # (only when it changed)


async def shutdown(ctx: dict[str, Any]) -> None:
    await outbox.drain()
    await partner_webhooks.settled()
    await partner_webhooks.close_client()
    await close_db()
    await close_redis()


def _redis_settings() -> RedisSettings:
    url = get_settings().redis_url
    if url.startswith("memory://"):
        return RedisSettings()
    return RedisSettings.from_dsn(url)


class WorkerSettings:
    functions = [
        evaluate_pools,
        seal_ledger,
        settle,
        reconcile,
        ratings,
        deliver_events,
        forget_events,
        prune_partner_reads,
        run_export,
        expire_counter_orders,
        deliver_webhook,
    ]
    # Settlement first (lots become active), then the pools, a few times a day: a
    # release due today runs on the first evaluation of its day.
    cron_jobs = [
        # New ledger entries are sealed into the hash chain within seconds.
        cron(seal_ledger, second=set(range(0, 60, 5)), run_at_startup=True),
        cron(settle, minute={0, 30}, run_at_startup=True),
        cron(evaluate_pools, hour={0, 6, 12, 18}, minute=5, run_at_startup=True),
        # Payments still `paying` past the stale window are queried at their channel.
        cron(reconcile, minute=set(range(2, 60, 5)), run_at_startup=True),
        cron(ratings, hour={4}, minute=15),
        # Events older than their grace that a consumer has not taken yet.
        cron(deliver_events, second=set(range(0, 60, 5)), run_at_startup=True),
        cron(forget_events, hour={4}, minute=40),
        cron(prune_partner_reads, hour={3}, minute=40),
        cron(resume_exports, minute=set(range(1, 60, 3)), run_at_startup=True),
        cron(purge_exports, minute={40}),
        # Counter orders left unconfirmed past their time, every minute.
        cron(expire_counter_orders, second={20}, run_at_startup=True),
        cron(sweep_webhooks, second=set(range(2, 60, 10)), run_at_startup=True),
        cron(forget_webhook_deliveries, hour={4}, minute=50),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = _redis_settings()
    timezone = ZoneInfo("Asia/Shanghai")
    job_timeout = 3600  # a release of millions of lots takes minutes
