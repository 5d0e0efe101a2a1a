"""Operator commands: each module registers its `python -m app.cli` commands here
(`command`), and `app.cli` reads them from `COMMANDS` once `load_all` imported them."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from app.infra.db import close_db, init_db
from app.infra.redis import close_redis

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, args, help)
        return fn

    return register


async def with_db(fn: Callable[[], Awaitable[int]]) -> int:
    await init_db()
    try:
        return await fn()
    finally:
        await close_db()
        await close_redis()


def load_all() -> None:
    """Import each module of `app/commands/`: each registers its own commands."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
