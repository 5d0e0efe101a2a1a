"""CLI: `load-policy [--policy NAME_OR_PATH] --reason …` validates a policy file and
records its load (name, SHA-256, who, when, why) in the admin audit trail."""

from __future__ import annotations

import argparse
import sys

from app.commands import command, with_db
from app.domain import audit, policy_loads
from app.infra.errors import DomainError


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy", default=None, help="a preset of policies/ or a .toml path (default: POLICY)"
    )
    p.add_argument("--reason", default="", help="why (kept in the audit trail)")


async def load_policy(source: str | None, reason: str) -> int:
    """The command's work, on an open database: 0 recorded (or unchanged), 2 refused."""
    try:
        entry = await policy_loads.record_load(
            source, by="cli", reason=audit.reason_of(reason, required=True)
        )
    except DomainError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 2
    if entry is None:
        print("policy unchanged since its last recorded load: nothing recorded")
    else:
        print(f"policy load recorded: audit entry {entry.seq}, {entry.after}")
    return 0


@command("load-policy", "validate a policy file and record its load in the audit trail", _args)
async def cmd_load_policy(ns: argparse.Namespace) -> int:
    return await with_db(lambda: load_policy(ns.policy, ns.reason))
