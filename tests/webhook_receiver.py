"""A partner's webhook receiver for tests and the benchmark: a real HTTP server
(uvicorn) on 127.0.0.1 that verifies each delivery with the helper docs/partners.md
shows (`verify_webhook`, taken from the docs' text) against the key set fetched from the
app, acts on each `Webhook-Id` once, and answers as it is told: a queue of statuses to
answer with (then 200), held answers, or down altogether (no one listening)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

DOCS = Path(__file__).resolve().parents[1] / "docs" / "partners.md"


def docs_block(language: str, contains: str) -> str:
    """The docs' code block of `language` that contains `contains`."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if contains in b]
    assert len(found) == 1, f"docs/partners.md shows no single {language} block with {contains}"
    return found[0]


def docs_verifier() -> Callable[..., dict[str, Any]]:
    """`verify_webhook` as the docs show it."""
    namespace: dict[str, Any] = {}
    exec(compile(docs_block("python", "def verify_webhook"), str(DOCS), "exec"), namespace)  # noqa: S102
    return namespace["verify_webhook"]


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    problem: str | None
    answered: int
    at: float


@dataclass
class Receiver:
    jwks: Callable[[], Awaitable[dict[str, Any]]]  # the app's key set, fetched
    path: str = "/hooks"
    answers: list[int] = field(default_factory=list)  # statuses to answer with, then 200
    hold: asyncio.Event | None = None  # when set: wait for it before answering
    held: asyncio.Event = field(default_factory=asyncio.Event)  # a request is being held
    received: list[Received] = field(default_factory=list)
    acted: dict[str, dict[str, Any]] = field(default_factory=dict)  # Webhook-Id -> event
    answer_body: bytes = b"ok"
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _keys: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.verify = docs_verifier()
        self.arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def _keyset(self, refresh: bool = False) -> dict[str, Any]:
        if self._keys is None or refresh:
            self._keys = await self.jwks()
        return self._keys

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        wid = headers.get("webhook-id", "")
        problem = None
        event: dict[str, Any] | None = None
        try:
            try:
                event = self.verify(headers, body, await self._keyset())
            except ValueError as exc:  # an unknown kid: a rotation, fetch the set again
                if "unknown key" not in str(exc):
                    raise
                event = self.verify(headers, body, await self._keyset(refresh=True))
        except Exception as exc:  # noqa: BLE001 - recorded, answered 400
            problem = f"{type(exc).__name__}: {exc}"
        status = 400 if problem else (self.answers.pop(0) if self.answers else 200)
        if event is not None and 200 <= status < 300:
            assert event["id"] == wid
            self.acted.setdefault(wid, event)  # a Webhook-Id seen before is dropped
        self.received.append(
            Received(wid, headers, body, problem is None, problem, status, time.monotonic())
        )
        async with self.arrived:
            self.arrived.notify_all()
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        if 300 <= status < 400:
            return Response(status_code=status, headers={"location": "http://127.0.0.1:9/x"})
        return PlainTextResponse(self.answer_body, status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(self.path, self._handle, methods=["POST"])])

    async def start(self) -> Receiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        """Down: nothing listens on its port until `start` again."""
        if self._server is not None and self._task is not None:
            if self.hold is not None:
                self.hold.set()
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    async def wait_for(self, count: int) -> None:
        """Until `count` requests have arrived."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)
