"""The POS web page (`GET /pos`): a store's counter in the browser, for a POS device.

Static HTML, JS and CSS from app/api/static/pos/ (no build step, nothing from a CDN):
the page speaks to `POST /graphql` like any client. Served in every environment, as
devices use it in production."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

POS_DIR = Path(__file__).parent / "static" / "pos"


async def _page(request: Request) -> Response:
    # (no-cache: a device picks up a new release of the page on its next load)
    return FileResponse(POS_DIR / "index.html", headers={"cache-control": "no-cache"})


async def _slash(request: Request) -> Response:
    return RedirectResponse("/pos", status_code=308)


def routes() -> list[BaseRoute]:
    return [
        Route("/pos", _page),
        Route("/pos/", _slash),
        Mount("/pos/assets", StaticFiles(directory=POS_DIR), name="pos-assets"),
    ]
