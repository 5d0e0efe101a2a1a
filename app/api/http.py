"""ASGI app: Starlette routes and lifespan (database, Redis)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise import connections

from app.adapters.payments import registry as payment_channels
from app.api import index, oauth, pos
from app.api.exports import routes as export_routes
from app.api.graphiql import static_files
from app.api.graphql.runtime.view import (
    GraphQLApp,
    error_response,
)
from app.api.graphql.schema import schema
from app.api.jwks import routes as jwks_routes
from app.api.notify import routes as payment_routes
from app.domain import policy_loads
from app.infra import heap, live, outbox
from app.infra.config import Settings, get_settings
from app.infra.db import close_db, init_db
from app.infra.logging import setup_logging
from app.infra.redis import close_redis, get_redis
from app.services import consumers, read_audit

log = logging.getLogger(__name__)


class BodySizeLimit:
    """Refuse request bodies above the limit, however they are sent.

    A declared Content-Length above the limit is refused before anything is read; a
    body without one (chunked) is read here up to the limit and refused once it passes
    it, before the app sees any of it. The app then gets the body whole, in one
    message: no route can start answering a body that turns out too large."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "http.request":  # the client left
            return
        if message.get("more_body"):
            chunks = [message.get("body", b"")]
            seen = len(chunks[0])
            while message.get("more_body"):
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                if seen > self.max_bytes:
                    await self._too_large(scope, receive, send)
                    return
            message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        elif len(message.get("body", b"")) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        whole: Message | None = message

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                first, whole = whole, None
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "BODY_TOO_LARGE", f"request body exceeds {self.max_bytes} bytes", scope
        )
        await response(scope, receive, send)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
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
    consumers.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await init_db(settings)
            # the policy this process runs with, in the audit trail when it changed
            await policy_loads.record_load(settings.policy, by="api")
        get_redis(settings)
        if manage_db:  # a server process (a test's in-process app keeps Python's defaults)
            heap.settle(settings)
        try:
            yield
        finally:
            await payment_channels.aclose()  # the providers' kept connections
            await outbox.drain()  # what was paid before the stop is told now, not swept
            await read_audit.drain()  # partner reads recorded but not yet written
            await live.close_hub()
            if manage_db:
                await close_db()
                await close_redis()

    graphiql = settings.app_env == "dev"
    graphql = GraphQLApp(schema, settings=settings, graphql_ide="graphiql" if graphiql else None)
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),  # live subscriptions (graphql-transport-ws)
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *index.routes(graphiql, schema.as_str()),
        *oauth.routes(),
        *pos.routes(),
    ]
    if graphiql:
        routes.append(static_files())
    routes += extra_routes()
    app = Starlette(routes=routes, lifespan=lifespan)
    outer: ASGIApp = BodySizeLimit(app, settings.max_body_bytes)
    if settings.extra_cors:
        # H5 pages on these origins call the API from the browser (bearer tokens, no
        # cookies); outermost, so refusals (413, 429) carry the headers too
        outer = CORSMiddleware(
            outer,
            allow_origins=settings.extra_cors,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "accept-language", "x-request-id"],
            expose_headers=["retry-after"],
            max_age=settings.cors_max_age_s,
        )
    return outer


def extra_routes() -> list[BaseRoute]:
    """Routes that other domains add (payment notifications, sandbox pay page)."""
    return [*payment_routes(), *export_routes(), *jwks_routes()]
