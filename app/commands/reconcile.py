"""`python -m app.cli reconcile-payments`: settle or close stuck payments, follow splits
and refunds (see app.services.reconcile)."""

from __future__ import annotations

import argparse

from app.commands import command, with_db
from app.services.reconcile import reconcile_payments


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=int, default=None, help="pending for at least this long")


@command("reconcile-payments", "query channels about stuck payments, splits and refunds", _args)
async def cmd_reconcile(ns: argparse.Namespace) -> int:
    async def run() -> int:
        report = await reconcile_payments(stale_minutes=ns.minutes)
        print(" ".join(f"{k}={v}" for k, v in report.as_dict().items()))
        return 1 if report.errors else 0

    return await with_db(run)
