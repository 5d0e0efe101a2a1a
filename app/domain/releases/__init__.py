"""Pools and releases: points into vouchers over time (SPEC §4)."""

from app.domain.releases.engine import (
    POOLS,
    Evaluation,
    Plan,
    PoolLock,
    ReleaseErrorCode,
    active_points,
    evaluate_pool,
    get_pool,
    plan_release,
    pool_available,
    pool_size,
    run_batches,
)

__all__ = [
    "POOLS",
    "Evaluation",
    "Plan",
    "PoolLock",
    "ReleaseErrorCode",
    "active_points",
    "evaluate_pool",
    "get_pool",
    "plan_release",
    "pool_available",
    "pool_size",
    "run_batches",
]
