"""ASGI app: Starlette routes and lifespan (database, Redis)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from app.config import Settings, get_settings
from app.db import close_db, init_db
from app.logging import setup_logging
from app.payments import registry as payment_channels
from app.redis import close_redis, get_redis
from app.schema.context import Context, build_context
from app.schema.root import schema

log = logging.getLogger(__name__)


class GraphQLApp(GraphQL):
    async def get_context(self, request: Request, response: Any) -> Context:  # type: ignore[override]
        return await build_context(request)

    def encode_json(self, data: object) -> str | bytes:
        """orjson (several times faster than json.dumps on a page of results); what it
        cannot encode (an integer beyond 64 bits) goes to the standard encoder. Text,
        as Strawberry's own encoder returns (a WebSocket would send bytes as binary)."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)


class BodySizeLimit:
    """Refuse request bodies above the limit before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(scope, receive, send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(scope, receive, send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    resp = JSONResponse(
        {
            "errors": [
                {
                    "message": f"request body exceeds {limit} bytes",
                    "extensions": {"code": "BODY_TOO_LARGE"},
                }
            ]
        },
        status_code=413,
    )
    await resp(scope, receive, send)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    from tortoise import connections

    checks: dict[str, str] = {}
    try:
        await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a readiness probe reports, never raises
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        await get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> ASGIApp:
    settings = settings or get_settings()
    setup_logging(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await init_db(settings)
        get_redis(settings)
        try:
            yield
        finally:
            await payment_channels.aclose()  # the providers' kept connections
            if manage_db:
                await close_db()
                await close_redis()

    graphql = GraphQLApp(schema, graphql_ide="graphiql" if settings.app_env == "dev" else None)
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    routes += extra_routes()
    app = Starlette(routes=routes, lifespan=lifespan)
    return BodySizeLimit(app, settings.max_body_bytes)


def extra_routes() -> list[Route]:
    """Routes that other domains add (payment notifications, sandbox pay page)."""
    from app.payments.routes import routes as payment_routes

    return [*payment_routes()]


app = create_app()
