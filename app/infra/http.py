"""Sending a built request with httpx.

The client's own `send` adds redirect, auth and cookie handling that no provider API
here uses, at ~0.1 ms of CPU per call (a twentieth of a paid order's): with runtime
shortcuts on, the request goes straight to the transport the client picked for its URL
(`AsyncClient._transport_for_url`, private: httpx is pinned to a minor in
pyproject.toml). RUNTIME_SHORTCUTS=0 sends through `AsyncClient.send`."""

from __future__ import annotations

import httpx

from app.infra.config import get_settings


async def send_read(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """The response to `request`, its body read and the connection released."""
    if not get_settings().runtime_shortcuts:
        return await client.send(request)  # (reads the body: not streamed)
    response = await client._transport_for_url(request.url).handle_async_request(request)
    response.request = request
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response
