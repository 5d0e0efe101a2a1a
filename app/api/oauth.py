"""`POST /oauth/token`: the client-credentials grant (RFC 6749 §4.4) for partner apps.

The client authenticates with HTTP Basic (client id and secret, each form-encoded, RFC
6749 §2.3.1) or with `client_id` and `client_secret` in the body, never both; the body
is form-encoded with `grant_type=client_credentials` and an optional `scope`. The answer
is a short-lived access token of kind partner, with no refresh token (§4.4.3): the
client asks again with its secret.

Errors are spelled as §5.2 spells them, with its statuses: `invalid_request`,
`unsupported_grant_type`, `unauthorized_client`, `invalid_scope` (400) and
`invalid_client` (401, with `WWW-Authenticate: Basic`, as every 401 carries a challenge,
RFC 7235 §3.1). Their descriptions stay in ASCII English: §5.2 allows no other
characters in `error_description`. Every answer is `Cache-Control: no-store`. Attempts
are counted per client id and per IP (app/infra/limits.py); over either, 429 with
`Retry-After`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import parse_qsl, unquote_plus

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain import partners
from app.domain.partners import ClientRefused
from app.domain.principals import Kind
from app.domain.tokens import issue_access
from app.infra import limits
from app.infra.config import get_settings
from app.infra.errors import RateLimited
from app.infra.inputs import text_problem

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'
GRANT = "client_credentials"


class _Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _answer(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _refusal(e: _Refused) -> Response:
    headers = {"WWW-Authenticate": _CHALLENGE} if e.status == 401 else None
    return _answer({"error": e.error, "error_description": e.description}, e.status, headers)


def _form(request: Request, body: bytes) -> dict[str, str]:
    """The body's parameters: each at most once (§3.2), one without a value as if absent."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise _Refused("invalid_request", "send the parameters form-encoded")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise _Refused("invalid_request", "the body is not a form-encoded request") from None
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name in seen:
            raise _Refused("invalid_request", f"parameter {name} is repeated")
        if text_problem(name) or text_problem(value):
            raise _Refused("invalid_request", "a parameter holds characters not allowed")
        seen[name] = value
    return {k: v for k, v in seen.items() if v != ""}


def _basic(header: str) -> tuple[str, str] | None:
    """The client id and secret of a Basic Authorization header; None without one."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _Refused("invalid_client", "malformed Basic credentials", 401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _Refused("invalid_client", "malformed Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    basic = _basic(request.headers.get("authorization", ""))
    if basic is not None:
        if "client_secret" in form:
            raise _Refused("invalid_request", "use one way of client authentication")
        if form.get("client_id", basic[0]) != basic[0]:
            raise _Refused("invalid_request", "client_id differs from the authenticated one")
        client_id, secret = basic
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not secret or text_problem(client_id) or text_problem(secret):
        raise _Refused("invalid_client", "client authentication failed", 401)
    return client_id, secret


async def token(request: Request) -> Response:
    try:
        return await _grant(request)
    except _Refused as e:
        return _refusal(e)
    except ClientRefused as e:
        return _refusal(
            _Refused(e.error, e.description, 401 if e.error == "invalid_client" else 400)
        )
    except RateLimited as e:
        return _answer(
            {"error": "rate_limited", "error_description": "too many requests",
             "retry_after": e.retry_after},
            429,
            {"Retry-After": str(e.retry_after)},
        )  # fmt: skip


async def _grant(request: Request) -> Response:
    form = _form(request, await request.body())
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise _Refused("invalid_request", "grant_type is required")
    if grant_type != GRANT:
        raise _Refused("unsupported_grant_type", "only client_credentials is supported")
    client_id, secret = _credentials(request, form)
    await _spend(request, client_id)
    app = await partners.authenticate_client(client_id, secret)
    scopes = partners.granted_scopes(app, form.get("scope"))
    ttl = get_settings().partner_token_ttl_s
    access = issue_access(app.id, Kind.PARTNER, scopes=scopes, ttl_s=ttl)
    return _answer(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(scopes),
        }
    )


async def _spend(request: Request, client_id: str) -> None:
    """One attempt from the client id's budget and the IP's. Redis out of reach lets
    the attempt through (logged): the secret's check still stands."""
    try:
        await limits.spend(*limits.oauth_token_budgets(client_id, request.scope))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("token budget not checked: %s", type(exc).__name__)


def routes() -> list[Route]:
    return [Route("/oauth/token", token, methods=["POST"])]
