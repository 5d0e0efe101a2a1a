"""One outbound HTTP path for every adapter: base URL and transport injectable,
timeouts and connection failures turned into `ChannelError`s without URLs or bodies.

The client builds each request (default headers, URL, timeout) and picks its transport
(the connection pool, or a proxy the environment names); `app.infra.http.send_read`
sends it (straight to that transport, with runtime shortcuts on)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from app.adapters.payments.base import ChannelError, PaymentErrorCode
from app.infra.http import send_read

log = logging.getLogger("app.adapters.payments")


class ChannelHttp:
    def __init__(
        self,
        channel: str,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.channel = channel
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # path -> its parsed URL: a channel calls the same few endpoints, and parsing
        # one is ~60 Python calls of httpx's every time
        self._urls: dict[str, httpx.URL] = {}

    def _session(self) -> httpx.AsyncClient:
        """One client per event loop, kept: its pool reuses connections to the provider,
        and a new client costs ~50 ms of CPU (it loads the CA bundle into an SSL
        context). A client of a loop that has gone (tests, a restarted worker) is
        replaced, never shared across loops."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                transport=self.transport, timeout=self.timeout_s, follow_redirects=False
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            url = self._urls.get(path)
            if url is None:
                if len(self._urls) >= 64:  # paths with ids in them: keep the few fixed ones
                    self._urls.clear()
                url = self._urls[path] = httpx.URL(self.base_url + path if path else self.base_url)
            client = self._session()
            request = client.build_request(method, url, content=content, data=data, headers=headers)
            return await send_read(client, request)
        except httpx.TimeoutException:
            log.warning("%s: no answer within %.1fs", self.channel, self.timeout_s)
            raise ChannelError(
                PaymentErrorCode.CHANNEL_TIMEOUT,
                f"{self.channel} did not answer in time; the payment state is unknown",
                transient=True,
            ) from None
        except httpx.HTTPError as exc:
            log.warning("%s: unreachable (%s)", self.channel, type(exc).__name__)
            raise ChannelError(
                PaymentErrorCode.CHANNEL_UNAVAILABLE,
                f"{self.channel} is unreachable",
                transient=True,
            ) from None


def json_or_error(channel: str, resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise ChannelError(
            PaymentErrorCode.CHANNEL_BAD_RESPONSE,
            f"{channel} answered something that is not JSON (HTTP {resp.status_code})",
            transient=resp.status_code >= 500,
        ) from None
    if not isinstance(data, dict):
        raise ChannelError(
            PaymentErrorCode.CHANNEL_BAD_RESPONSE, f"{channel} answered an unexpected shape"
        )
    return data


def provider_refused(channel: str, code: str, message: str, *, transient: bool) -> ChannelError:
    # Provider messages describe the request, never our keys; still keep them short.
    text = (message or "").replace("\n", " ")[:120]
    return ChannelError(
        PaymentErrorCode.CHANNEL_ERROR,
        f"{channel} refused the request: {code}" + (f" ({text})" if text else ""),
        transient=transient,
        provider_code=code,
    )
