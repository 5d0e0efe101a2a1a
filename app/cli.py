"""Operator commands: `python -m app.cli <command>`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.api.graphql.schema import schema
from app.commands import COMMANDS, command, load_all, with_db
from app.dev import wiring
from app.dev.demo import seed_demo
from app.domain.principals import Kind
from app.domain.tokens import issue_pair
from app.infra.config import get_settings
from app.infra.db import close_db, migrate
from app.infra.logging import setup_logging


@command("migrate", "apply the committed migrations")
async def cmd_migrate(ns: argparse.Namespace) -> int:
    await migrate()
    await close_db()
    print("migrations applied")
    return 0


def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=["user", "device"], default="user")
    p.add_argument("--subject", required=True, type=int, help="the user's or the device's id")


@command("token", "print an access token for local use (refused in prod)", _token_args)
async def cmd_token(ns: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.app_env == "prod":
        print("refused: tokens are not minted by hand in prod", file=sys.stderr)
        return 2
    # (what the subject may do is read from the database on each request)
    pair = await issue_pair(ns.subject, Kind(ns.kind))
    print(pair.access_token)
    return 0


@command("export-schema", "write schema.graphql from the code's schema")
async def cmd_export_schema(ns: argparse.Namespace) -> int:
    Path("schema.graphql").write_text(schema.as_str() + "\n", encoding="utf-8")
    print("schema.graphql written")
    return 0


@command("check-schema", "fail if schema.graphql differs from the code's schema")
async def cmd_check_schema(ns: argparse.Namespace) -> int:
    path = Path("schema.graphql")
    current = schema.as_str() + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != current:
        print(
            "schema.graphql is out of date: run `python -m app.cli export-schema`", file=sys.stderr
        )
        return 1
    print("schema.graphql is up to date")
    return 0


@command("seed-demo", "create demo merchants, consumers and orders (idempotent)")
async def cmd_seed_demo(ns: argparse.Namespace) -> int:
    return await with_db(seed_demo)


def main(argv: list[str] | None = None) -> int:
    load_all()
    parser = argparse.ArgumentParser(prog="python -m app.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, add_args, help_text) in sorted(COMMANDS.items()):
        add_args(sub.add_parser(name, help=help_text))
    ns = parser.parse_args(argv)
    setup_logging(get_settings())
    wiring.install()  # the dev stand-ins, where settings turn them on (seed-demo pays)
    fn = COMMANDS[ns.command][0]
    return asyncio.run(fn(ns))


if __name__ == "__main__":
    raise SystemExit(main())
