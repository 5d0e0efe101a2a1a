"""The baseline for bench/nearby.py: a bare Starlette endpoint doing the same GEOSEARCH
that `nearbyMerchants` does (same key, radius, order and candidate cap), on the same
Redis, returning the 20 nearest ids. No GraphQL, no ranking, no cards."""

from __future__ import annotations

import contextlib
import os

import orjson
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.adapters.discovery.index import K_ALL
from app.adapters.discovery.nearby import MAX_CANDIDATES, RADIUS_SLACK_M

_r: aioredis.Redis | None = None


async def nearby(request: Request) -> Response:
    body = orjson.loads(await request.body())
    assert _r is not None
    ids = await _r.geosearch(
        K_ALL,
        longitude=body["lng"],
        latitude=body["lat"],
        radius=body.get("radiusM", 3000) + RADIUS_SLACK_M,
        unit="m",
        sort="ASC",
        count=MAX_CANDIDATES,
    )
    return Response(
        orjson.dumps({"ids": ids[: body.get("first", 20)]}), media_type="application/json"
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    global _r
    # the same client settings as app.infra.redis.make_redis
    _r = aioredis.from_url(
        os.environ["REDIS_URL"], decode_responses=True, socket_timeout=5, socket_connect_timeout=2
    )
    yield
    await _r.aclose()


app = Starlette(routes=[Route("/nearby", nearby, methods=["POST"])], lifespan=lifespan)
