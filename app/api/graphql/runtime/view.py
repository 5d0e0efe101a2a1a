"""Strawberry's ASGI view, with a shorter path through it for the common request.

The shorter path (`GraphQLApp._fast_post`) calls private methods of Strawberry's view
(`_get_stream_transport_from_headers`, `_handle_errors`): strawberry-graphql is pinned
to one minor in pyproject.toml. RUNTIME_SHORTCUTS=0 sends every request through the
view's own `run`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from app.api import persisted
from app.api.graphiql import graphiql_page
from app.api.graphql.core.context import Context, build_context, caller_of
from app.api.media import (
    GRAPHQL_RESPONSE,
    JSON,
    answer_media,
    is_request_error,
    is_request_error_result,
    request_error_status,
)
from app.api.persisted import DocumentRefused
from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError, RateLimited
from app.infra.i18n import language_of, translate

log = logging.getLogger(__name__)


def bearer_of(params: dict[str, Any] | None) -> str:
    """The `Authorization` value a `connection_init` payload carries (its `token` as a
    bearer token); "" for none."""
    params = params or {}
    header = next((v for k, v in params.items() if k.lower() == "authorization"), None)
    if isinstance(header, str) and header.strip():
        return header
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) and token.strip() else ""


class LiveSocket(ASGIWebSocketAdapter):
    """Strawberry's WebSocket, whose refusal at `connection_init` (4403 Forbidden, as
    graphql-transport-ws says) names why in its reason: `Forbidden: TOKEN_EXPIRED`."""

    async def close(self, code: int, reason: str) -> None:
        refusal = getattr(self.ws.state, "refusal", None)
        if code == 4403 and refusal:
            reason = f"{reason}: {refusal}"
        await super().close(code, reason)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view, with a shorter way through it for the common request.

    A POST of a JSON object (`query`, `variables`, `operationName`, `extensions`) asking
    for no streamed reply is executed here with the same steps as Strawberry's view
    (`execute_single`: the same schema, extensions, operation-type rules and HTTP 400s;
    `process_result`; `create_response`'s status and headers), without the view's
    general set-up (a sub-response object, request adapters, content-type and IDE
    checks made for every kind of request). Anything else, including a body that is
    not such an object, takes the view's own path with the body already read, so its
    answers (400s, batches, uploads, GET, GraphiQL) stay Strawberry's.

    Both paths answer in the media type the client accepts, with GraphQL over HTTP's
    status codes (app/api/media.py), and take documents sent by hash
    (app/api/persisted.py)."""

    websocket_adapter_class = LiveSocket

    def __init__(self, schema: Any, settings: Settings | None = None, **kwargs: Any) -> None:
        settings = settings or get_settings()
        # Subscriptions over graphql-transport-ws only: the legacy graphql-ws protocol
        # stays off (it had an auth-bypass advisory). The cap on a connection's
        # subscriptions is the resolvers' (app/api/graphql/live/), with its typed error;
        # Strawberry's own cap (operations in flight) stays above it.
        super().__init__(
            schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=settings.live_connection_init_timeout_s),
            max_subscriptions_per_connection=settings.live_max_subscriptions + 1,
            # H5 pages on these origins may open a socket (its token is in its
            # connection_init, never a cookie); Strawberry refuses other origins
            allowed_origins=settings.extra_cors,
            **kwargs,
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media = answer_media(request.headers.get("accept"))
        try:
            if scope["method"] == "POST":
                data = await json_object_body(request, media)
                if (
                    data is not None
                    and self.settings.runtime_shortcuts
                    and await self._fast_post(request, send, media, data)
                ):
                    return
            response = await self.run(request)
            if media is GRAPHQL_RESPONSE and response.headers.get("content-type") == JSON:
                response.headers["content-type"] = GRAPHQL_RESPONSE
                if is_request_error_answer(request):
                    response.status_code = 400
        except HTTPException as e:
            # the view's refusals (a body that is no GraphQL request, an unsupported
            # content type, ...) as JSON with a code, like every other answer
            code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(e.status_code, "BAD_REQUEST")
            response = error_response(e.status_code, code, e.reason, scope, media)
        except DocumentRefused as e:
            response = error_response(request_error_status(media), e.code, e.message, scope, media)
        except BodyRefused as e:
            response = e.response
        except RateLimited as e:  # the request's budget (app/api/graphql/core/context.py)
            response = rate_limited_response(e)
        await response(scope, receive, send)

    async def _fast_post(
        self, request: Request, send: Send, media: str, data: dict[str, Any]
    ) -> bool:
        """Answer the request and return True, or False for the view's own path."""
        if self._get_stream_transport_from_headers(request.headers):
            return False
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if not (
            (type(query) is str or (query is None and type(extensions) is dict))
            and (variables is None or type(variables) is dict)
            and (extensions is None or type(extensions) is dict)
            and (operation_name is None or type(operation_name) is str)
        ):
            return False
        context = await self.get_context(request, None)
        result = await self.execute_single(
            request=request,
            request_adapter=self.request_adapter_class(request),
            sub_response=None,  # (execute_single never reads it)
            context=context,
            root_value=None,
            request_data=GraphQLRequestData(
                query=query,
                variables=variables,
                operation_name=operation_name,
                extensions=extensions,
                protocol="http",
            ),
        )
        response_data = await self.process_result(request, result)
        status = 200
        if result.errors:
            self._handle_errors(result.errors, response_data)
            if media is GRAPHQL_RESPONSE and is_request_error(response_data):
                response_data.pop("data", None)
                status = 400
        payload = self.encode_json(response_data)
        if isinstance(payload, str):
            payload = payload.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", media.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return True

    async def get_context(self, request: HTTPConnection, response: Any) -> Context:
        if not isinstance(request, WebSocket):
            return await build_context(request)
        try:  # a socket's upgrade spends one request of the client's budget
            return await build_context(request)
        except RateLimited as e:  # refused at connection_init, as a bad token is
            request.state.refusal = e.code
            return Context(request=request, request_id="-")

    async def on_ws_connect(self, context: Context) -> None:
        """`connection_init`: the socket's caller, from the token in its payload
        (`{"Authorization": "Bearer <token>"}` or `{"token": "<token>"}`: a browser
        cannot set a WebSocket's headers) or else the upgrade's own `Authorization`
        header, checked as an HTTP request's is. Without a caller the socket is closed
        (4403, the reason naming the code: refresh on TOKEN_EXPIRED, sign in again
        otherwise)."""
        socket = context.request
        assert isinstance(socket, WebSocket)
        try:
            if getattr(socket.state, "refusal", None):
                raise ConnectionRejectionError
            header = bearer_of(context.connection_params)
            if header:
                context.principal = await caller_of(header)
            elif context.principal is None:
                raise context.auth_error or DomainError("UNAUTHENTICATED", "sign in first")
        except DomainError as e:
            socket.state.refusal = e.code
            raise ConnectionRejectionError from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """The view's execution (both paths come here, the request's budget spent),
        with the document taken from its hash where one is sent (app/api/persisted.py);
        a document sent with its hash is kept only once it parsed and validated."""
        keep = None
        if request_data.extensions is not None or self.settings.trusted_documents_only:
            request_data.query, keep = await persisted.document_of(
                request_data.query, request_data.extensions, self.settings
            )
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        query = request_data.query
        if keep is not None and type(query) is str and not is_request_error_result(result):
            await persisted.remember(keep, query, self.settings)
        return result

    async def process_result(self, request: Request, result: Any) -> Any:
        response_data = await super().process_result(request, result)
        if (
            result.errors
            and answer_media(request.headers.get("accept")) is GRAPHQL_RESPONSE
            and is_request_error(response_data)
        ):
            response_data.pop("data", None)
            request.state.request_error = True
        return response_data

    def should_render_graphql_ide(self, request: Any) -> bool:
        # a GET with only a hash (APQ) is a request, not a visit
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_page())

    def encode_json(self, data: object) -> str | bytes:
        """orjson (several times faster than json.dumps on a page of results); what it
        cannot encode (an integer beyond 64 bits) goes to the standard encoder. Text,
        as Strawberry's own encoder returns (a WebSocket would send bytes as binary)."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)


async def json_object_body(request: Request, media: str) -> dict[str, Any] | None:
    """A JSON POST's body as its object, read once (both paths see it); None for another
    content type. A body that is not JSON, or not an object (a list would be a batch,
    which this API does not take), is refused here with its own code."""
    content_type = request.headers.get("content-type", "")
    if content_type != "application/json":  # (the usual header needs no parsing)
        content_type, _ = parse_content_type(content_type)
    if content_type != "application/json":
        return None
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BodyRefused(
            error_response(
                400, "BODY_NOT_JSON", "the request body is not valid JSON", request.scope, media
            )
        ) from None
    if type(data) is not dict:
        raise BodyRefused(
            error_response(
                400,
                "BODY_NOT_OBJECT",
                "the request body must be a JSON object",
                request.scope,
                media,
            )
        )
    return data


def is_request_error_answer(request: Request) -> bool:
    """The view's answer to this request is a request error (set by process_result)."""
    return getattr(request.state, "request_error", False)


class BodyRefused(Exception):
    """A request body answered with an error before it reaches GraphQL."""

    def __init__(self, response: Response) -> None:
        self.response = response


def error_response(
    status: int, code: str, message: str, scope: Scope, media: str = JSON
) -> JSONResponse:
    """A refusal outside GraphQL execution, shaped as GraphQL errors are, its message
    in the request's language, in the media type the client accepts."""
    language = language_of(Headers(scope=scope).get("accept-language"))
    return JSONResponse(
        {"errors": [{"message": translate(message, language), "extensions": {"code": code}}]},
        status_code=status,
        media_type=media,
    )


def rate_limited_response(e: RateLimited) -> Response:
    """A request refused before execution: HTTP 429, Retry-After, and the error in
    GraphQL's shape with its code and the seconds to wait."""
    return JSONResponse(
        {
            "data": None,
            "errors": [
                {
                    "message": e.message,
                    "extensions": {"code": e.code, "retryAfter": e.retry_after},
                }
            ],
        },
        status_code=429,
        headers={"Retry-After": str(e.retry_after)},
    )
