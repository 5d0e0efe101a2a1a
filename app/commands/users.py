"""CLI: `set-role --user ID --role R` (make or demote an admin, an agent, ...)."""

from __future__ import annotations

import argparse
import sys

from app.commands import command, with_db
from app.domain import users
from app.infra.errors import DomainError
from app.models.users import Role


def _set_role_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", required=True, type=int)
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--reason", default="", help="why (kept in the audit trail)")


@command("set-role", "give an account another role (its sessions follow at once)", _set_role_args)
async def cmd_set_role(ns: argparse.Namespace) -> int:
    async def run() -> int:
        try:
            user = await users.set_role(ns.user, Role(ns.role), reason=ns.reason)
        except DomainError as exc:
            print(f"refused: {exc.message}", file=sys.stderr)
            return 2
        print(f"user {user.id} is now {user.role.value}")
        return 0

    return await with_db(run)
