"""`GET /.well-known/jwks.json`: the public keys partner webhooks are signed with (RFC
7517), the signing key and those retired but still published (app/domain/webhook_keys.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain import webhook_keys

# receivers may cache the set this long; a rotated key stays published far longer
_MAX_AGE_S = 300


async def jwks(request: Request) -> Response:
    return JSONResponse(
        await webhook_keys.jwks(),
        headers={"cache-control": f"public, max-age={_MAX_AGE_S}"},
        media_type="application/jwk-set+json",
    )


def routes() -> list[Route]:
    return [Route("/.well-known/jwks.json", jwks, methods=["GET"])]
