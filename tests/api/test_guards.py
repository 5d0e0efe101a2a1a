"""Limits answer a clear error, never a 500; health and readiness probes."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from app.infra.redis import get_redis, set_redis
from tests.fakes.server import free_port


async def test_depth_limit(client, settings):
    def nested(levels: int) -> str:
        return "{ me " + "{ x " * levels + "{ id }" + " }" * levels + " }"

    resp = await client.post("/graphql", json={"query": nested(settings.max_query_depth)})
    assert resp.status_code == 200
    messages = [e["message"] for e in resp.json()["errors"]]
    assert any("嵌套过深" in m for m in messages), messages
    shallow = await client.post("/graphql", json={"query": nested(1)})
    assert not any("嵌套过深" in e["message"] for e in shallow.json()["errors"])


async def test_aliases_are_costed_not_counted(client, settings):
    # the cost rule replaced the alias count: cheap aliases pass, costly ones do not
    cheap = " ".join(f"a{i}: __typename" for i in range(100))
    resp = await client.post("/graphql", json={"query": "{ " + cheap + " }"})
    assert "errors" not in resp.json()
    paged = "myOrders(first: 100) { edges { node { id } } }"
    costly = " ".join(f"a{i}: {paged}" for i in range(100))
    resp = await client.post("/graphql", json={"query": "{ " + costly + " }"})
    assert resp.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_token_limit(client, settings):
    fields = " ".join("__typename" for _ in range(settings.max_tokens))
    resp = await client.post("/graphql", json={"query": "{ " + fields + " }"})
    assert resp.status_code == 200
    assert "词法单元" in resp.json()["errors"][0]["message"]


async def test_body_limit(client, settings):
    big = "{ __typename }" + " " * (settings.max_body_bytes + 10)
    resp = await client.post("/graphql", json={"query": big})
    assert resp.status_code == 413
    assert resp.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"


async def test_bad_json_is_a_client_error(client):
    resp = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= resp.status_code < 500


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).text == "ok"
    resp = await client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"ready": True, "database": "ok", "redis": "ok"}


async def test_readyz_reports_stopped_redis(client):
    real = get_redis()
    # a Redis client whose server is not there (a port nothing listens on)
    set_redis(aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5))
    try:
        resp = await client.get("/readyz")
    finally:
        await get_redis().aclose()
        set_redis(real)
    assert resp.status_code == 503
    body = resp.json()
    assert body["ready"] is False and body["database"] == "ok"
    assert body["redis"].startswith("down")


async def test_graphiql_only_in_dev(db):
    from app.api.http import create_app
    from app.infra.config import Settings

    for env, expect_ide in [("dev", True), ("test", False)]:
        app = create_app(Settings(app_env=env), manage_db=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            resp = await c.get("/graphql", headers={"accept": "text/html"})
            assert ("graphiql" in resp.text.lower()) is expect_ide, env


async def test_introspection_off_in_prod(db, settings, monkeypatch):
    from app.api.graphql.schema import schema

    assert not (await schema.execute("{ __schema { queryType { name } } }")).errors
    monkeypatch.setattr(settings, "app_env", "prod")
    res = await schema.execute("{ __schema { queryType { name } } }")
    assert res.errors and "内省" in res.errors[0].message
