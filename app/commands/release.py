"""CLI: `release --pool consumer [--dry-run] [--at YYYY-MM-DD]` (SPEC §4)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date

from app.commands import command, with_db
from app.domain.releases import evaluate_pool
from app.infra.errors import DomainError


def _release_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pool", required=True, choices=["consumer", "merchant"])
    p.add_argument("--dry-run", action="store_true", help="show what would happen, write nothing")
    p.add_argument(
        "--at",
        type=date.fromisoformat,
        default=None,
        help="evaluate as of this day (YYYY-MM-DD, Asia/Shanghai); default today",
    )


@command("release", "evaluate a pool once: schedule, run or preview its release", _release_args)
async def cmd_release(ns: argparse.Namespace) -> int:
    async def run() -> int:
        try:
            ev = await evaluate_pool(ns.pool, at=ns.at, dry_run=ns.dry_run)
        except DomainError as exc:
            print(f"refused: {exc.message}", file=sys.stderr)
            return 2
        out: dict = {
            "pool": ev.pool,
            "at": str(ev.at),
            "dry_run": ns.dry_run,
            "size": ev.size,
            "previous_size": ev.prev_size,
            "growth": f"{ev.growth.normalize():f}",
            "due_on": str(ev.due_on) if ev.due_on else None,
            "outcome": ev.note,
        }
        if ev.decision is not None:
            out["trigger"] = ev.decision.trigger
        if ev.plan is not None:
            out["plan"] = {
                k: str(v) if not isinstance(v, dict) else v for k, v in asdict(ev.plan).items()
            }
        if ev.release is not None:
            r = ev.release
            out["release"] = {
                "release_no": r.release_no,
                "status": str(r.status),
                "trigger": r.trigger,
                "growth": f"{r.growth.normalize():f}",
                "index_after": r.index_after,
                "scale_factor": str(r.scale_factor),
                "paid_fen": r.paid_fen,
                "lots_paid": r.lots_paid,
                "valves": r.valves,
            }
        print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return 0

    return await with_db(run)
