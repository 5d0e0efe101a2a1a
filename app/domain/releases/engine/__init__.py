"""The set-based release engine (SPEC §4).

A release of pool X number k runs in phases, each a sequence of short transactions:

* **plan** (one transaction): the pool row is locked, the release row is written with
  every input (size S, previous size S0, growth g, index before/after, available funds,
  budget, what the formula asks for, scale factor s, safety valves) and the pool moves
  to its new state. The unique (pool, release_no) makes a release happen once.
* **regular** batches, keyed on lot id: per batch, in one transaction, the payments of
  the batch's eligible lots (formula, cap, last-release rule, scale, holder cap, split,
  subsidy) and the lots' new state in one statement (`UPDATE point_lots … FROM
  (formula) … RETURNING` feeding `INSERT INTO release_payments`, which returns the
  batch's totals), the batch's ledger entry set-based (`ledger.bulk.post_bulk`) and
  the release's cursor.
  A crash rolls back the open batch; a rerun resumes at the cursor. The unique
  (release, lot, kind) on payments makes a double payment impossible anyway.
* **bonus** batches (cohort bonus at release 36, 众店), the same way.
* **done**.

A Redis lock (SET NX PX + token) keeps two workers off the same pool; the database
locks (pool row, release row, cursor check) keep it right even without Redis.
Memory does not grow with the number of lots: nothing is loaded per lot.

The package by level: `lock` (pool names, the day, the Redis lock), `plan` (pool state,
the plan phase), `batches` (the batch phases), `sql` (their statements), `evaluate`
(what the worker runs: finish, run or schedule a pool's release).
"""

from app.domain.releases.engine.batches import run_batches
from app.domain.releases.engine.evaluate import Evaluation, evaluate_pool, run_pool
from app.domain.releases.engine.lock import (
    LOCK_TTL_MS,
    POOLS,
    TZ,
    PoolLock,
    ReleaseErrorCode,
    pool_lock,
    today,
)
from app.domain.releases.engine.plan import (
    Plan,
    active_points,
    get_pool,
    plan_release,
    plan_release_id,
    pool_available,
    pool_size,
)

__all__ = [
    "LOCK_TTL_MS",
    "POOLS",
    "TZ",
    "Evaluation",
    "Plan",
    "PoolLock",
    "ReleaseErrorCode",
    "active_points",
    "evaluate_pool",
    "get_pool",
    "plan_release",
    "plan_release_id",
    "pool_available",
    "pool_lock",
    "pool_size",
    "run_batches",
    "run_pool",
    "today",
]
