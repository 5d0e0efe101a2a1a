"""The app as deployed, in its own uvicorn process, for tests that need a real server
(a browser, the graphql-http audit, the embedded default's settings)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.fakes.server import free_port


@contextmanager
def live_server(**env: str) -> Iterator[str]:
    """Start `uvicorn app.main:app` on a free loopback port with the test run's database
    and Redis (and `env` on top); yield its base URL once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        # (the server's own address is its public one: pay pages and the sandbox
        # provider's notifications point back at it)
        env={
            **os.environ,
            "APP_ENV": "test",
            "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the server did not start: {stderr[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
