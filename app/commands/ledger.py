"""CLI: `verify-ledger` and `settle`."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from app.cli import _with_db, command


@command("verify-ledger", "recompute the hash chain and every balance; exit 1 on a discrepancy")
async def cmd_verify_ledger(ns: argparse.Namespace) -> int:
    from app.domain.ledger.verify import verify_ledger

    async def run() -> int:
        report = await verify_ledger()
        if report.ok:
            print(f"ledger OK: {report.entries} entries, {report.accounts} accounts")
            return 0
        print(
            f"ledger BROKEN after {report.entries} good entries: {report.problem}", file=sys.stderr
        )
        return 1

    return await _with_db(run)


def _settle_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--at",
        type=date.fromisoformat,
        default=None,
        help="settle as of this day (YYYY-MM-DD, Asia/Shanghai); default today",
    )


@command("settle", "activate the lots of orders whose refund window has passed", _settle_args)
async def cmd_settle(ns: argparse.Namespace) -> int:
    from app.services.settlement import activate_due_lots

    async def run() -> int:
        n = await activate_due_lots(at=ns.at)
        print(f"settled {n} orders")
        return 0

    return await _with_db(run)
