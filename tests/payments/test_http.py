"""The one outbound HTTP path of the adapters: connections kept, per event loop."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.payments.http import ChannelHttp
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
