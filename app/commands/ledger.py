"""CLI: `verify-ledger`, `seal-ledger` and `settle`."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from app.commands import command, with_db
from app.domain import audit
from app.domain.ledger.seal import seal_pending
from app.domain.ledger.verify import verify_ledger
from app.services.settlement import activate_due_lots


async def verify_audit() -> int:
    report = await audit.verify()
    if report.ok:
        print(f"audit trail OK: {report.entries} entries")
        return 0
    print(
        f"audit trail BROKEN after {report.entries} good entries: {report.problem}",
        file=sys.stderr,
    )
    return 1


@command(
    "verify-ledger",
    "recompute the hash chains (ledger, audit trail) and every balance; exit 1 on a discrepancy",
)
async def cmd_verify_ledger(ns: argparse.Namespace) -> int:
    return await with_db(verify_chains)


async def verify_chains() -> int:
    """The ledger, then the audit trail: 0 when both hold."""
    report = await verify_ledger()
    if report.ok:
        print(
            f"ledger OK: {report.entries} sealed entries, {report.unsealed} not sealed yet, "
            f"{report.accounts} accounts"
        )
    else:
        print(
            f"ledger BROKEN after {report.entries} good entries: {report.problem}",
            file=sys.stderr,
        )
    audited = await verify_audit()
    return 0 if report.ok and audited == 0 else 1


def _seal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=1000, help="entries per transaction")


@command("seal-ledger", "link unsealed ledger entries into the hash chain, in id order", _seal_args)
async def cmd_seal_ledger(ns: argparse.Namespace) -> int:
    async def run() -> int:
        n = await seal_pending(batch=ns.batch)
        print(f"sealed {n} entries")
        return 0

    return await with_db(run)


@command("verify-audit", "recompute the audit trail's hash chain; exit 1 on a discrepancy")
async def cmd_verify_audit(ns: argparse.Namespace) -> int:
    return await with_db(verify_audit)


def _settle_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--at",
        type=date.fromisoformat,
        default=None,
        help="settle as of this day (YYYY-MM-DD, Asia/Shanghai); default today",
    )


@command("settle", "activate the lots of orders whose refund window has passed", _settle_args)
async def cmd_settle(ns: argparse.Namespace) -> int:
    async def run() -> int:
        n = await activate_due_lots(at=ns.at)
        print(f"settled {n} orders")
        return 0

    return await with_db(run)
