"""The real server process: lifespan, database and Redis wiring as deployed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from app.models.users import User
from tests.fakes.server import free_port
from tests.helpers import token_for


async def test_uvicorn_serves_graphql_with_lifespan(db):
    user = await User.create(phone="13511112222")
    token = await token_for(user.id, "consumer")
    port = free_port()
    env = {**os.environ, "APP_ENV": "test", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a server in its own process, on purpose
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as c:
            for _ in range(100):
                try:
                    if (await c.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            ready = await c.get("/readyz")
            assert ready.status_code == 200, ready.text
            me = await c.post(
                "/graphql",
                json={"query": "{ me { role } }"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert me.json() == {"data": {"me": {"role": "CONSUMER"}}}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
