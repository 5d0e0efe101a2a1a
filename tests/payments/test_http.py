"""The one outbound HTTP path of the adapters: connections kept, per event loop."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.adapters.payments.base import ChannelError, PaymentErrorCode
from app.adapters.payments.http import ChannelHttp
from tests.fakes.server import serve


def peer_app(seen: list[int]) -> Starlette:
    async def who(request: Request) -> JSONResponse:
        assert request.client is not None
        seen.append(request.client.port)  # the caller's TCP port: one per connection
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/who", who, methods=["POST"])])


async def test_calls_reuse_one_connection_to_the_provider():
    seen: list[int] = []
    with serve(peer_app(seen)) as url:
        http = ChannelHttp("fake", url, timeout_s=5)
        # when the adapter calls its provider five times
        for _ in range(5):
            resp = await http.send("POST", "/who", content=b"{}")
            assert resp.status_code == 200
        await http.aclose()
    # then the five calls went over one kept-alive connection, not five
    assert len(seen) == 5 and len(set(seen)) == 1


async def test_a_closed_client_is_replaced_not_reused():
    seen: list[int] = []
    with serve(peer_app(seen)) as url:
        http = ChannelHttp("fake", url, timeout_s=5)
        await http.send("POST", "/who", content=b"{}")
        await http.aclose()  # shutdown of a worker, say
        resp = await http.send("POST", "/who", content=b"{}")
        await http.aclose()
    assert resp.status_code == 200 and len(set(seen)) == 2


async def test_an_outbound_proxy_the_environment_names_is_used(monkeypatch):
    # Given a proxy named in the environment (an egress proxy in front of the providers)
    lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n", 1)[0])
        body = b'{"via": "proxy"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        http = ChannelHttp("fake", "http://provider.invalid/api", timeout_s=5)
        # when the adapter calls its provider
        resp = await http.send("POST", "/orders", content=b"{}")
        await http.aclose()
    finally:
        server.close()
        await server.wait_closed()
    # then the call went through the proxy, in a proxy's absolute form
    assert resp.json() == {"via": "proxy"}
    assert lines == [b"POST http://provider.invalid/api/orders HTTP/1.1"]


async def test_a_provider_that_does_not_answer_in_time_is_a_transient_timeout():
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(1.0)
        return JSONResponse({"ok": True})

    with serve(Starlette(routes=[Route("/slow", slow, methods=["POST"])])) as url:
        http = ChannelHttp("fake", url, timeout_s=0.2)
        with pytest.raises(ChannelError) as caught:
            await http.send("POST", "/slow", content=b"{}")
        await http.aclose()
    assert caught.value.code == PaymentErrorCode.CHANNEL_TIMEOUT and caught.value.transient
    assert "127.0.0.1" not in str(caught.value)  # no URL in what a client may see
