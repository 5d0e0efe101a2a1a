"""`python -m app.cli refresh-ratings`: every store's rating against today's platform
mean (SPEC §14.2; the worker runs it daily)."""

from __future__ import annotations

import argparse

from app.commands import command, with_db
from app.services.reviews import refresh_ratings


@command("refresh-ratings", "recompute every store's rating against the platform's mean review")
async def cmd_refresh_ratings(ns: argparse.Namespace) -> int:
    async def run() -> int:
        print(f"ratings changed: {await refresh_ratings()}")
        return 0

    return await with_db(run)
