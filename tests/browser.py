"""Headless Chromium for browser tests: Debian's `chromium` package (apt-get install
chromium), driven by Playwright's Python client pointed at it (never a browser that
Playwright downloads). Every request that leaves loopback is refused and recorded."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from playwright.async_api import Page, Route, async_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # no name resolves but loopback: nothing can leave the machine even unrouted
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
LOOPBACK = {"127.0.0.1", "localhost"}


@asynccontextmanager
async def offline_page() -> AsyncIterator[tuple[Page, list[str]]]:
    """A page whose requests reach loopback only; the list collects every other URL the
    page tried (a test asserts it stays empty)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise AssertionError(
            "chromium is not on PATH: install Debian's (apt-get install -y chromium); .ci/run does"
        )
    refused: list[str] = []

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            await route.continue_()
        else:
            refused.append(url)
            await route.abort("internetdisconnected")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = await browser.new_context()
            await context.route("**/*", only_loopback)
            yield await context.new_page(), refused
        finally:
            await browser.close()
