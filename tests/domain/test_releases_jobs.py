"""The arq job that evaluates both pools."""

from __future__ import annotations

from app.domain.releases import PoolLock
from app.models.releases import Pool
from app.worker import evaluate_pools


async def test_worker_job_evaluates_both_pools_and_skips_a_locked_one(db):
    # given another worker holding the merchant pool
    other = PoolLock("merchant")
    assert await other.acquire()
    try:
        # when the scheduled job runs
        outcomes = await evaluate_pools({})
    finally:
        await other.release()
    # then the consumer pool was evaluated (and created), the merchant pool skipped
    assert outcomes == {"consumer": "not due", "merchant": "LOCKED"}
    assert await Pool.filter(name="consumer").exists()
    assert (await evaluate_pools({}))["merchant"] == "not due"


def test_worker_schedules_settlement_releases_reconciliation_and_ratings():
    from app import worker

    scheduled = {job.coroutine for job in worker.WorkerSettings.cron_jobs}
    assert scheduled == {
        worker.settle,
        worker.evaluate_pools,
        worker.reconcile,
        worker.ratings,
        worker.deliver_events,  # the outbox's sweep
        worker.forget_events,
        worker.prune_partner_reads,
        worker.resume_exports,  # exports lost from the queue or their worker
        worker.purge_exports,  # files past their expiry
        worker.expire_counter_orders,  # counter orders nobody confirmed in time
        worker.sweep_webhooks,  # partner webhook deliveries due: retries, lost jobs
        worker.forget_webhook_deliveries,  # the delivery log past its keeping
        worker.seal_ledger,  # new ledger entries into the hash chain
    }


async def test_worker_reconcile_job_runs_a_pass(db):
    from app import worker

    report = await worker.reconcile({})
    assert report["errors"] == 0 and report["paid"] == report["closed"] == 0
