"""Tortoise configuration: one app label per domain, each with its own migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate as run_migrate

from app.infra import embedded_pg
from app.infra.config import Settings, get_settings

# Each label owns its models module and its migrations package, so domains evolve
# their schema independently; cross-label foreign keys become migration dependencies.
APPS: dict[str, list[str]] = {
    "core": [
        "app.models.users",
        "app.models.merchants",
        "app.models.ledger",
        "app.models.orders",
        "app.models.mall",
        "app.models.reviews",
        "app.models.audit",
        "app.models.partners",
        "app.models.webhooks",
    ],
    "releases": ["app.models.releases"],
    "payments": ["app.models.payments"],
    "geo": ["app.models.geo"],
    "referrals": ["app.models.referrals"],
    "events": ["app.models.events"],
    "exports": ["app.models.exports"],
}


# asyncpg pool bounds unless the URL sets them (`?minsize=1&maxsize=40`): Tortoise's
# default of 5 connections serialises concurrent requests and payments behind the pool.
PG_POOL_DEFAULTS = {"minsize": "1", "maxsize": "20"}


# the embedded servers (app/infra/embedded_pg.py) this module started or joined
_embedded: set[Path] = set()


def db_url(settings: Settings) -> str:
    """The PostgreSQL URL to connect to: an `embedded://` one is started (or joined) and
    held by this process until `close_db`."""
    url = settings.database_url
    if embedded_pg.is_embedded(url):
        root, database = embedded_pg.parse(url)
        url = embedded_pg.acquire(root).url(database)
        _embedded.add(root)
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    parts = urlsplit(url)
    query = {**PG_POOL_DEFAULTS, **dict(parse_qsl(parts.query))}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _prepare(settings: Settings, url: str | None) -> None:
    """The embedded server running and its database made (a no-op for other URLs)."""
    if url is None and embedded_pg.is_embedded(settings.database_url):
        root, _ = embedded_pg.parse(settings.database_url)
        _embedded.add(root)
        await embedded_pg.resolve(settings.database_url)


class _Connection(asyncpg.Connection):
    """A pooled connection handed back without asyncpg's session reset: a round trip
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) on every release,
    ~0.2 ms of worker and ~0.15 ms of server CPU, several times per paid order. The app
    keeps no session state: its advisory locks are transaction-scoped, its settings
    `SET LOCAL`, and it neither LISTENs nor holds cursors past a transaction. An open
    transaction is still rolled back on release (asyncpg does that before the query)."""

    def get_reset_query(self) -> str:
        return ""


def _connection(url: str) -> dict[str, Any]:
    conf = expand_db_url(url)
    conf["credentials"]["connection_class"] = _Connection
    return conf


def tortoise_config(settings: Settings | None = None, url: str | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    return {
        "connections": {"default": _connection(url or db_url(settings))},
        "apps": {
            label: {
                "models": modules,
                "default_connection": "default",
                "migrations": f"app.migrations.{label}",
            }
            for label, modules in APPS.items()
        },
        "use_tz": True,
        "timezone": "Asia/Shanghai",
    }


async def init_db(settings: Settings | None = None, url: str | None = None) -> None:
    settings = settings or get_settings()
    await _prepare(settings, url)
    # The global fallback lets request tasks see the context the lifespan task made
    # (what Tortoise's own RegisterTortoise does for Starlette).
    await Tortoise.init(config=tortoise_config(settings, url), _enable_global_fallback=True)


async def migrate(settings: Settings | None = None, url: str | None = None) -> None:
    settings = settings or get_settings()
    await _prepare(settings, url)
    await run_migrate(config=tortoise_config(settings, url))


async def close_db() -> None:
    """Close the connections; let go of an embedded server this process started or
    joined (the last process to let go stops it)."""
    await Tortoise.close_connections()
    while _embedded:
        embedded_pg.release(_embedded.pop())


def __getattr__(name: str) -> Any:
    # For the `tortoise` CLI: `tortoise -c app.infra.db.TORTOISE_ORM makemigrations`
    # (made when asked for: an embedded server starts only for a command that needs it).
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)
