"""A graphql-transport-ws client written out by hand over `websockets`, as the protocol
(github.com/enisdenjo/graphql-ws, PROTOCOL.md) has it: connection_init and its ack,
subscribe, next, error, complete, ping/pong. Tests and bench/live_latency.py speak
through it, so what they check is the wire, not a library's reading of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"


class Refused(Exception):
    """The server closed the socket: its close code and reason."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class LiveSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, wait_s: float = 5.0) -> dict[str, Any]:
        """The next message other than a ping (answered); Refused if the server closed."""
        while True:
            try:
                async with asyncio.timeout(wait_s):
                    raw = await self.ws.recv()
            except ConnectionClosed as e:
                rcvd = e.rcvd
                raise Refused(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {
                "id": id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def complete(self, id: str) -> None:
        await self.send({"id": id, "type": "complete"})

    async def closed(self, wait_s: float = 5.0) -> Refused:
        """Wait for the server to close the socket (failing on any other message)."""
        try:
            message = await self.receive(wait_s)
        except Refused as e:
            return e
        raise AssertionError(f"expected the socket closed, got {message}")


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[LiveSocket]:
    """A socket on `url` (ws://host:port/graphql) speaking graphql-transport-ws, not yet
    initialised."""
    async with websockets.connect(url, subprotocols=[PROTOCOL], open_timeout=5) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == PROTOCOL
        yield LiveSocket(ws)


@asynccontextmanager
async def session(url: str, token: str, *, header: bool = True) -> AsyncIterator[LiveSocket]:
    """An acknowledged connection for `token` (sent as `Authorization: Bearer`, or as
    `token` when not `header`)."""
    async with connect(url) as socket:
        payload = {"Authorization": f"Bearer {token}"} if header else {"token": token}
        await socket.send({"type": "connection_init", "payload": payload})
        ack = await socket.receive()
        assert ack["type"] == "connection_ack", ack
        yield socket
