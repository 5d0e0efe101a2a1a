"""Evaluating a pool: finish an interrupted release, run a due one, or check the
trigger and schedule the next (the entry point of the worker and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.domain.policy import Policy, get_policy
from app.domain.releases import rules
from app.domain.releases.engine.batches import run_batches
from app.domain.releases.engine.lock import PoolLock, check_pool, pool_lock, today
from app.domain.releases.engine.plan import Plan, get_pool, plan_release, plan_release_id, pool_size
from app.models.releases import Pool, Release, ReleaseStatus


@dataclass
class Evaluation:
    pool: str
    at: date
    size: int
    prev_size: int
    growth: Decimal
    decision: rules.TriggerDecision | None
    due_on: date | None
    release: Release | None = None  # a release that ran (or finished) now
    plan: Plan | None = None  # what would run (dry run) / what ran
    note: str = ""


async def evaluate_pool(
    name: str,
    *,
    at: date | None = None,
    dry_run: bool = False,
    policy: Policy | None = None,
    max_batches: int | None = None,
) -> Evaluation:
    """One evaluation of a pool on day `at` (default today, Asia/Shanghai).

    Finishes an interrupted release first. Then, if a release is due (its condition was
    met and `at` is on or after the next working day), runs it; otherwise checks the
    trigger and, when met, schedules the release on the next working day.
    With `dry_run` nothing is written and the plan of the release is returned.
    """
    check_pool(name)
    policy = policy or get_policy()
    at = at or today()
    if dry_run:
        return await _evaluate(name, at, policy, dry_run=True, max_batches=None)
    async with pool_lock(name) as lock:
        return await _evaluate(name, at, policy, dry_run=False, max_batches=max_batches, lock=lock)


async def _evaluate(
    name: str,
    at: date,
    policy: Policy,
    *,
    dry_run: bool,
    max_batches: int | None,
    lock: PoolLock | None = None,
) -> Evaluation:
    pool = await get_pool(name, at)
    running = await Release.filter(pool_id=pool.id, status=ReleaseStatus.RUNNING).first()
    prev = pool.last_size or policy.pools[name].virtual_start_points  # type: ignore[index]
    due = pool.due_on is not None and at >= pool.due_on
    if running is None and due and not dry_run:
        # The plan measures S itself, under the pool's lock (one scan of the lots, not two)
        trigger, cond = pool.due_trigger or "growth", pool.condition_on or pool.due_on or at
        rel_id = await plan_release_id(name, at, policy, trigger, cond)
        rel = await run_batches(rel_id, policy, max_batches=max_batches, lock=lock)
        size, prev, g = int(rel.size), int(rel.prev_size), Decimal(rel.growth)
        return Evaluation(name, at, size, prev, g, None, None, rel, None, "released")
    size = await pool_size(name, policy)
    g = rules.growth(size, prev)
    if running is not None:
        if dry_run:
            return Evaluation(name, at, size, prev, g, None, None, running, None, "resumable")
        rel = await run_batches(running.id, policy, max_batches=max_batches, lock=lock)
        return Evaluation(name, at, size, prev, g, None, None, rel, None, "resumed")
    if due:  # a dry run (a real run returned above)
        trigger, cond = pool.due_trigger or "growth", pool.condition_on or pool.due_on or at
        plan = await plan_release(name, at, policy, trigger, cond, write=False)
        return Evaluation(name, at, size, prev, g, None, pool.due_on, None, plan, "due")
    if pool.due_on is not None:
        return Evaluation(name, at, size, prev, g, None, pool.due_on, note="scheduled")
    state = rules.TriggerState(pool.release_count, pool.anchor_on or at, prev)
    decision = rules.evaluate_trigger(state, size, at, policy.release)
    if not decision.met:
        return Evaluation(name, at, size, prev, g, decision, None, note="not due")
    if not dry_run:
        await Pool.filter(id=pool.id, due_on=None).update(
            due_on=decision.due_on,
            due_trigger=decision.trigger,
            condition_on=decision.condition_on,
        )
        if (
            decision.due_on is not None and decision.due_on <= at
        ):  # catching up (a run by hand, a worker that was down)
            return await _evaluate(
                name, at, policy, dry_run=False, max_batches=max_batches, lock=lock
            )
    note = "would schedule" if dry_run else "scheduled"
    return Evaluation(name, at, size, prev, g, decision, decision.due_on, note=note)


async def run_pool(
    name: str, *, at: date | None = None, policy: Policy | None = None
) -> Evaluation:
    """Alias used by the worker: one evaluation, releasing when due."""
    return await evaluate_pool(name, at=at, policy=policy)
