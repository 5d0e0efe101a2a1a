"""Test harness.

Database: with DATABASE_URL=postgres://... a fresh, randomly named database is created
for the run, migrated with the committed migrations, and dropped at the end (Tortoise's
own test suite does the same). Without it, a SQLite file in a temp dir. Tables are
emptied between tests.

Redis: with REDIS_URL=redis://... the real server, in a logical DB leased to this run
(1..15) and flushed before each test; without it, the in-process stand-in, fresh for
every test.

REQUIRE_SERVICES=1 (set by .ci/run) turns a missing PostgreSQL/Redis into a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

_BASE_DB_URL = os.environ.get("DATABASE_URL", "")
_BASE_REDIS_URL = os.environ.get("REDIS_URL", "")
USE_PG = _BASE_DB_URL.startswith(("postgres://", "postgresql://"))
USE_REAL_REDIS = _BASE_REDIS_URL.startswith("redis://")
if os.environ.get("REQUIRE_SERVICES") and not (USE_PG and USE_REAL_REDIS):
    raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL=postgres://... and REDIS_URL")

_RUN_DB = f"test_{secrets.token_hex(6)}"


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgresql://", "postgres://", 1))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        _with_db(_BASE_DB_URL, urlsplit(_BASE_DB_URL).path.strip("/") or "postgres").replace(
            "postgres://", "postgresql://", 1
        )
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if USE_PG:
    os.environ["DATABASE_URL"] = _with_db(_BASE_DB_URL, _RUN_DB)
else:
    _tmp = tempfile.mkdtemp(prefix="points-test-")
    os.environ["DATABASE_URL"] = f"sqlite://{_tmp}/test.sqlite3"
_REDIS_LEASE: str | None = None


def _claim_redis_db() -> int:
    """A logical Redis DB (1..15) no other test run on this server is using: a lease key
    in DB 0 claims it for the run, so concurrent runs never flush each other's keys."""
    import random

    import redis

    parts = urlsplit(_BASE_REDIS_URL)
    admin = redis.Redis.from_url(urlunsplit((parts.scheme, parts.netloc, "/0", "", "")))
    global _REDIS_LEASE
    for index in random.sample(range(1, 16), 15):
        key = f"points-test:lease:{index}"
        if admin.set(key, _RUN_DB, nx=True, ex=3600):
            _REDIS_LEASE = key
            return index
    raise pytest.UsageError("all 15 test Redis databases are leased; wait for other runs")


if USE_REAL_REDIS:
    _rparts = urlsplit(_BASE_REDIS_URL)
    os.environ["REDIS_URL"] = urlunsplit(
        (_rparts.scheme, _rparts.netloc, f"/{_claim_redis_db()}", "", "")
    )
else:
    os.environ["REDIS_URL"] = "memory://"
os.environ["APP_ENV"] = "test"
os.environ.setdefault("LOG_LEVEL", "WARNING")


def pytest_configure(config: pytest.Config) -> None:
    if USE_PG:
        asyncio.run(_admin_exec(f'CREATE DATABASE "{_RUN_DB}"'))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _REDIS_LEASE is not None:
        import redis

        parts = urlsplit(_BASE_REDIS_URL)
        redis.Redis.from_url(urlunsplit((parts.scheme, parts.netloc, "/0", "", ""))).delete(
            _REDIS_LEASE
        )
    if USE_PG:
        try:
            asyncio.run(_admin_exec(f'DROP DATABASE IF EXISTS "{_RUN_DB}" WITH (FORCE)'))
        except Exception as exc:  # noqa: BLE001
            print(f"could not drop {_RUN_DB}: {exc}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    skip_redis = pytest.mark.skip(reason="needs a real Redis: set REDIS_URL=redis://...")
    for item in items:
        if "postgres" in item.keywords and not USE_PG:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not USE_REAL_REDIS:
            item.add_marker(skip_redis)


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = f"PostgreSQL (fresh database {_RUN_DB})" if USE_PG else "SQLite (temp file)"
    rd = "real Redis" if USE_REAL_REDIS else "in-process Redis stand-in"
    return [f"database: {db}; redis: {rd}"]


@pytest.fixture(scope="session")
async def db() -> AsyncIterator[None]:
    from app.infra.db import close_db, init_db, migrate
    from app.infra.redis import close_redis, get_redis
    from app.services import consumers

    consumers.install()
    await migrate()
    await close_db()
    await init_db()
    if USE_REAL_REDIS:
        await get_redis().flushdb()
    yield
    await close_db()
    await close_redis()


async def _empty_tables() -> None:
    from tortoise import Tortoise, connections

    conn = connections.get("default")
    tables = [m._meta.db_table for app in Tortoise.apps.values() for m in app.values()]
    # Only tables the migrations made (a model without its migration is caught by
    # test_models_have_no_unrecorded_changes, not here).
    if USE_PG:
        rows = await conn.execute_query_dict(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        existing = {r["tablename"] for r in rows}
    else:
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
        existing = {r["name"] for r in rows}
    tables = [t for t in tables if t in existing]
    if not tables:
        return
    from app.domain.ledger.core import forget_account_ids

    forget_account_ids()  # the ids the ledger remembers are about to be handed out again
    if USE_PG:
        await conn.execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    else:
        await conn.execute_script(
            "PRAGMA foreign_keys = OFF; "
            + " ".join(f'DELETE FROM "{t}";' for t in tables)
            + " PRAGMA foreign_keys = ON;"
        )


@pytest.fixture(autouse=True)
async def clean(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that touches the database starts from empty tables."""
    if "db" not in request.fixturenames and "client" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("db")
    from app.infra import outbox
    from app.infra.redis import get_redis, set_redis

    await outbox.drain()  # nothing of the last test's deliveries runs into this one

    if USE_REAL_REDIS:
        await get_redis().flushdb()  # this run's own leased DB
    else:
        import fakeredis

        set_redis(fakeredis.FakeAsyncRedis(decode_responses=True))
    await _empty_tables()
    yield
    await outbox.drain()
    if not USE_REAL_REDIS:
        await get_redis().aclose()
        set_redis(None)


@pytest.fixture
def settings():
    from app.infra.config import get_settings

    return get_settings()


@pytest.fixture
async def client(db) -> AsyncIterator:
    import httpx

    from app.api.http import create_app

    app = create_app(manage_db=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c
