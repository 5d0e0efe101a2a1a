"""The embedded default database (app/infra/embedded_pg.py): a process that uses it
starts it or joins it, the last one to leave stops it, and nothing is left running after
a CLI command, a served app stopped by SIGTERM, or a holder that was killed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.infra import embedded_pg

ROOT = Path(__file__).resolve().parents[1]

# a holder: starts (or joins) the server, makes its database, says so, waits for stdin
HOLD = """
import asyncio, sys
from app.infra import embedded_pg
url = asyncio.run(embedded_pg.resolve(sys.argv[1]))
print(url, flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="points-embedded-")) / "pg"
    yield path
    if embedded_pg.postmaster_pid(path / "pgdata") is not None:  # never leave one behind
        embedded_pg.acquire(path)
        embedded_pg.release(path)
    shutil.rmtree(path.parent, ignore_errors=True)


def _env(**over: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", **over}
    env.pop("REDIS_URL", None)
    return env


def _holder(url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("postgres://"), line
    return proc


def _leave(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(30) == 0


def _running(root: Path) -> bool:
    return embedded_pg.postmaster_pid(root / "pgdata") is not None


def test_the_last_holder_stops_the_server(root):
    url = f"embedded://{root}"
    # given two processes using the server
    first = _holder(url)
    second = _holder(url)
    assert _running(root)
    # when one leaves, the server stays for the other
    _leave(first)
    assert _running(root)
    # when the last leaves, the server stops
    _leave(second)
    assert not _running(root)


def test_a_killed_holder_is_cleaned_up_by_the_next(root):
    url = f"embedded://{root}"
    # given a holder killed without letting go (SIGKILL: no atexit)
    proc = _holder(url)
    proc.kill()
    proc.wait(10)
    assert _running(root)  # orphaned for now
    # when the next process uses it and leaves, the server stops
    _leave(_holder(url))
    assert not _running(root)


def test_a_cli_command_leaves_nothing_running(root):
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=_env(DATABASE_URL=f"embedded://{root}", APP_ENV="dev"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (root / "pgdata" / "PG_VERSION").exists()
    assert not _running(root)


def test_the_served_app_stops_the_server_on_sigterm(root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env(DATABASE_URL=f"embedded://{root}", APP_ENV="dev")
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _running(root) or not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        # when the server process is told to stop
        proc.send_signal(signal.SIGTERM)
        # (uvicorn shuts down gracefully, then raises the signal it caught again)
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    # then its database server stopped with it
    assert not _running(root)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_a_root_directory_is_parsed():
    assert embedded_pg.parse("embedded://data/postgres") == (
        Path("data/postgres").absolute(),
        "points",
    )
    assert embedded_pg.parse("embedded:///abs/pg?database=x") == (Path("/abs/pg"), "x")
