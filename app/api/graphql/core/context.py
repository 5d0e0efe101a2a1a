"""Per-request GraphQL context: the caller, a request id and the request's DataLoaders.

A WebSocket (live subscriptions) has one context for its life: built at the upgrade,
its caller set at `connection_init` from the token sent there (app/api/http.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from app.domain.principals import Principal
from app.domain.tokens import AuthErrorCode, authenticate
from app.infra import limits
from app.infra.errors import DomainError
from app.infra.i18n import set_language


@dataclass
class Context:
    request: HTTPConnection | None  # a Request, or the WebSocket of a live connection
    request_id: str
    principal: Principal | None = None
    # Why a token that was sent was not accepted (None when none was sent).
    auth_error: DomainError | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    # a WebSocket's `connection_init` payload (set by Strawberry's protocol handler)
    connection_params: dict[str, Any] | None = None
    # the live subscriptions this connection holds (their cap: LIVE_MAX_SUBSCRIPTIONS)
    live_subscriptions: int = 0

    @property
    def scope(self) -> Scope | None:
        """The ASGI scope of the request (budgets read the client's address from it)."""
        return self.request.scope if self.request is not None else None

    def loader(self, name: str, factory: Any) -> Any:
        """DataLoaders live one request: built on first use, never shared across requests."""
        if name not in self.loaders:
            self.loaders[name] = factory()
        return self.loaders[name]


async def caller_of(header: str) -> Principal:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise DomainError(
            AuthErrorCode.TOKEN_INVALID,
            "send the token as 'Authorization: Bearer <token>'",
            "token",
        )
    return await authenticate(token)


async def build_context(request: HTTPConnection | None) -> Context:
    rid = (request.headers.get("x-request-id") if request else None) or uuid.uuid4().hex
    ctx = Context(request=request, request_id=rid[:64])
    set_language(request.headers.get("accept-language") if request else None)
    header = request.headers.get("authorization", "") if request is not None else ""
    # An empty header is no header: the caller is anonymous (UNAUTHENTICATED where a
    # field needs someone); anything else must be a bearer token that holds.
    if header.strip():
        try:
            ctx.principal = await caller_of(header)
        except DomainError as exc:
            ctx.auth_error = exc
    if request is not None:
        # the request's budget (per subject, else per IP), before anything runs:
        # RateLimited reaches the view, which answers 429 (app/api/http.py)
        await limits.spend_request(request.scope, ctx.principal)
    return ctx
