"""POSTing one webhook delivery to a partner's receiver, which is not trusted.

Every attempt is bounded as a whole (`timeout_s`: connecting, sending and reading
together), follows no redirect, keeps no cookie, ignores proxy variables, and reads at
most a short excerpt of the answer. In prod a receiver whose host resolves to a private
address is not called (`private_ok` false). Nothing raises: the outcome says what
happened, a status code or the class of the error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx

from app.infra.inputs import private_address

USER_AGENT = "multistore-points-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None  # the class of what went wrong when there is no status code
    excerpt: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def make_client(max_connections: int = 100) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        headers={"user-agent": USER_AGENT},
    )


class ForbiddenAddress(Exception):
    """The receiver's host resolves to a private address (prod)."""


async def _check_host(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, parts.port or 443, type=socket.SOCK_STREAM
    )
    for info in infos:
        if private_address(ipaddress.ip_address(info[4][0])):
            raise ForbiddenAddress(host)


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float,
    excerpt_max: int,
    private_ok: bool,
) -> Outcome:
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    try:
        async with asyncio.timeout(timeout_s):
            if not private_ok:
                await _check_host(url)
            async with client.stream(
                "POST",
                url,
                content=body,
                headers={"content-type": "application/json", **headers},
                timeout=httpx.Timeout(timeout_s),
            ) as resp:
                status = resp.status_code
                got = b""
                async for chunk in resp.aiter_raw():
                    got += chunk
                    if len(got) >= excerpt_max:
                        break
                excerpt = got[:excerpt_max].decode("utf-8", "replace") or None
    except TimeoutError:
        error = "Timeout" if status is None else None
    except Exception as exc:  # noqa: BLE001 - a receiver's failure is an outcome
        if status is None:
            error = type(exc).__name__[:100]
    return Outcome(status, error, excerpt, int((time.perf_counter() - started) * 1000))
