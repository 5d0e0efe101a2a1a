"""`release.paid`: one outbox event per release run, written in the transaction that
marks the run done, with the run's totals (never one per lot: a release pays millions).

The engine calls `write_release_paid` as it finishes a run (`engine.batches._finish`); the
release row is locked there and the run finishes once, so the event is written once.
Its consumers (partner webhooks, …) are handed it by the outbox's sweep.
"""

from __future__ import annotations

from typing import Any

from app.infra import outbox
from app.infra.outbox import EventKind
from app.models.releases import Pool, Release


def release_paid_payload(rel: Release, pool: str) -> dict[str, Any]:
    """What a run paid, in integer fen (and lot counts), as the release row sums it."""
    return {
        "release_id": rel.id,
        "pool": pool,
        "release_no": rel.release_no,
        "run_on": rel.run_on.isoformat(),
        "trigger": rel.trigger,
        "scale_factor": str(rel.scale_factor),
        "paid_fen": rel.paid_fen,
        "voucher_fen": rel.voucher_fen,
        "shopping_fen": rel.shopping_fen,
        "subsidy_fen": rel.subsidy_fen,
        "cohort_bonus_fen": rel.cohort_bonus_fen,
        "lots_paid": rel.lots_paid,
        "lots_exited": rel.lots_exited,
        "lots_expired": rel.lots_expired,
    }


async def write_release_paid(conn: Any, release_id: int) -> outbox.Event:
    """The run's `release.paid` event, written with `conn` (the run's last transaction)."""
    rel = await Release.filter(id=release_id).using_db(conn).get()
    pool = await Pool.filter(id=rel.pool_id).using_db(conn).get()  # type: ignore[attr-defined]
    event = outbox.event(
        EventKind.RELEASE_PAID, f"release:{rel.id}", **release_paid_payload(rel, pool.name)
    )
    await outbox.write(conn, [event])
    return event
