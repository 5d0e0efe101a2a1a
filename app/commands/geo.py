"""`python -m app.cli rebuild-geo-index`: repair discovery from the database.

Brings every paid order's heat-map cell, heat and task counters in step with its row
(idempotent: orders already counted are left alone), then rewrites the Redis geo index
(merchants, ranking features, heat) and swaps it in key by key.
"""

from __future__ import annotations

import argparse

from app.adapters.discovery import index
from app.commands import command, with_db
from app.models.geo import GeoOrderFact
from app.models.orders import Order
from app.services.discovery import apply_order


async def reconcile_orders(chunk: int = 1000) -> int:
    """Apply `apply_order` to every paid order whose contribution is missing or stale."""
    fixed = 0
    last = 0
    while True:
        rows = (
            await Order.filter(paid_at__isnull=False, id__gt=last)
            .order_by("id")
            .limit(chunk)
            .values("id", "refunded_fen", "amount_fen")
        )
        if not rows:
            return fixed
        last = rows[-1]["id"]
        facts = {
            f["order_id"]: f["refunded_fen"]
            for f in await GeoOrderFact.filter(order_id__in=[r["id"] for r in rows]).values(
                "order_id", "refunded_fen"
            )
        }
        for r in rows:
            want = min(r["refunded_fen"], r["amount_fen"])
            if facts.get(r["id"]) != want:
                await apply_order(r["id"])
                fixed += 1


@command("rebuild-geo-index", "repair heat map / task counters and rebuild the Redis geo index")
async def cmd_rebuild_geo_index(ns: argparse.Namespace) -> int:
    async def run() -> int:
        fixed = await reconcile_orders()
        counts = await index.rebuild()
        print(f"orders reconciled: {fixed}; index: {counts}")
        return 0

    return await with_db(run)
