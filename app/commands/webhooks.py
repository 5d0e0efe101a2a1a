"""CLI: `rotate-webhook-key [--alg EdDSA|RS256]` (a new key signs partner webhooks; the
current one stays published in /.well-known/jwks.json for `webhook_key_publish_s`) and
`webhook-keys` (what is published)."""

from __future__ import annotations

import argparse
import json

from app.commands import command, with_db
from app.domain import webhook_keys


def _rotate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alg", choices=list(webhook_keys.ALGORITHMS), default=None)


@command(
    "rotate-webhook-key",
    "make a new webhook signing key (the old one stays published)",
    _rotate_args,
)
async def cmd_rotate_webhook_key(ns: argparse.Namespace) -> int:
    async def run() -> int:
        made = await webhook_keys.rotate(ns.alg)
        print(f"webhook deliveries are now signed with {made.kid} ({made.alg})")
        return 0

    return await with_db(run)


@command("webhook-keys", "print the published webhook keys (the JWKS)")
async def cmd_webhook_keys(ns: argparse.Namespace) -> int:
    async def run() -> int:
        print(json.dumps(await webhook_keys.jwks(), indent=2))
        return 0

    return await with_db(run)
