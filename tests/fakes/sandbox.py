"""The sandbox channel in tests: the provider is the app's own (app.adapters.payments.
sandbox_provider); this wires its notification delivery to the app under test
in-process and plays the payer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from app.dev import sandbox_provider


@contextmanager
def delivering_to(app) -> Iterator[None]:
    """The provider's signed notifications reach `app` (no network)."""
    sandbox_provider.set_notify_transport(httpx.ASGITransport(app=app))
    try:
        yield
    finally:
        sandbox_provider.set_notify_transport(None)


async def pay(client: httpx.AsyncClient, out_trade_no: str) -> httpx.Response:
    """What the payer's "Pay" button does on the sandbox page."""
    return await client.post(f"/sandbox/pay/{out_trade_no}", headers={"accept": "application/json"})
