"""`release.paid`: one outbox event per release run, written with the run's end, with
the run's totals (not one per lot)."""

from __future__ import annotations

from datetime import timedelta

from app.models.events import OutboxEvent
from app.models.releases import Release, ReleasePayment
from tests.domain.test_releases import (
    add_lot,
    first_release,
    fund,
    grow,
    make_policy,
    release_at,
)


async def _events() -> list[OutboxEvent]:
    return await OutboxEvent.filter(kind="release.paid").order_by("created_at")


async def test_a_release_run_writes_one_release_paid_event_with_its_totals(db):
    # given lots enough for several batches
    policy = make_policy(batch_size=100, payout_cap_bps=10_000)
    await fund(10**12)
    for holder in range(1, 151):
        await add_lot(10_000 + holder, holder_id=holder)
    # when the first release runs
    rel = await first_release(policy)
    rel = await Release.get(id=rel.id)
    payments = await ReleasePayment.filter(release_id=rel.id)
    assert len(payments) > 100  # (more than one batch)
    # then one event, its totals the run's: the release row's and its payments' sums
    [event] = await _events()
    assert event.subject == f"release:{rel.id}"
    p = event.payload
    assert (p["release_id"], p["pool"], p["release_no"]) == (rel.id, "consumer", 1)
    assert p["run_on"] == rel.run_on.isoformat()
    assert p["paid_fen"] == rel.paid_fen > 0
    assert p["paid_fen"] == sum(x.paid_units + x.subsidy_units for x in payments)
    assert p["voucher_fen"] == sum(x.voucher_units for x in payments) == rel.voucher_fen
    assert p["shopping_fen"] == sum(x.shopping_units for x in payments) == rel.shopping_fen
    assert p["voucher_fen"] + p["shopping_fen"] == sum(x.paid_units for x in payments)
    assert p["lots_paid"] == len([x for x in payments if x.kind == "regular"])
    assert all(isinstance(p[k], int) for k in ("paid_fen", "voucher_fen", "lots_paid"))

    # evaluating again the same day pays nothing more and tells nothing more
    again = await release_at("consumer", rel.run_on, policy)
    assert again.release is None or again.release.id == rel.id
    assert len(await _events()) == 1

    # the next release is its own event
    await grow("consumer", policy, 20)
    nxt = await release_at("consumer", rel.run_on + timedelta(days=10), policy)
    assert nxt.release is not None and nxt.release.id != rel.id, nxt.note
    events = await _events()
    assert [e.subject for e in events] == [f"release:{rel.id}", f"release:{nxt.release.id}"]
    assert events[1].payload["release_no"] == 2
