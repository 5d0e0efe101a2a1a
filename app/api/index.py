"""`GET /`: where a developer starts. Links to GraphiQL (where it is served), the
client docs and the schema; the docs are served as text from the repository's docs/."""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


def _docs() -> list[str]:
    return sorted(p.name for p in DOCS_DIR.glob("*.md")) if DOCS_DIR.is_dir() else []


def _page(graphiql: bool) -> str:
    links = []
    if graphiql:
        links.append('<li><a href="/graphql">GraphiQL</a>: try the API in the browser</li>')
    links += [
        f'<li><a href="/docs/{escape(name)}">docs/{escape(name)}</a></li>' for name in _docs()
    ]
    links.append(
        '<li><a href="/schema.graphql">schema.graphql</a>: the schema, for typed clients</li>'
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>multistore points API</title></head><body>"
        "<h1>multistore points API</h1>"
        "<p>GraphQL at <code>POST /graphql</code>. Start with docs/clients.md.</p>"
        f"<ul>{''.join(links)}</ul></body></html>"
    )


def routes(graphiql: bool, schema_sdl: str) -> list[Route]:
    page = _page(graphiql)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def doc(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _docs():  # (only the files listed: no path reaches elsewhere)
            return PlainTextResponse("not found", status_code=404)
        text = (DOCS_DIR / name).read_text(encoding="utf-8")
        return PlainTextResponse(text, media_type="text/plain; charset=utf-8")

    async def schema(request: Request) -> Response:
        return PlainTextResponse(schema_sdl, media_type="text/plain; charset=utf-8")

    return [
        Route("/", index),
        Route("/docs/{name}", doc),
        Route("/schema.graphql", schema),
    ]
