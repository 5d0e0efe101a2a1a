"""CORS for the configured H5 origins; `GET /` and what it leads to."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.main import create_app

H5 = "https://h5.example.cn"


@pytest.fixture
async def cors_client(db, settings, monkeypatch):
    monkeypatch.setattr(settings, "extra_cors", [H5])
    app = create_app(manage_db=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_preflight_from_a_configured_origin(cors_client, settings):
    res = await cors_client.options("/graphql", headers=preflight(H5))
    assert res.status_code == 200
    assert res.headers["access-control-allow-origin"] == H5
    assert "POST" in res.headers["access-control-allow-methods"]
    allowed = res.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert res.headers["access-control-max-age"] == str(settings.cors_max_age_s)


async def test_preflight_from_another_origin_is_refused(cors_client):
    res = await cors_client.options("/graphql", headers=preflight("https://evil.example"))
    assert res.status_code == 400
    assert "access-control-allow-origin" not in res.headers


async def test_a_request_from_the_origin_may_be_read_by_it(cors_client):
    res = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": H5}
    )
    assert res.json() == {"data": {"__typename": "Query"}}
    assert res.headers["access-control-allow-origin"] == H5
    other = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_headers_without_configured_origins(client):
    res = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": H5})
    assert "access-control-allow-origin" not in res.headers


async def test_index_leads_to_the_docs_and_the_schema(client):
    index = await client.get("/")
    assert index.status_code == 200
    assert 'href="/docs/clients.md"' in index.text
    assert 'href="/schema.graphql"' in index.text
    # GraphiQL only where it is served (dev)
    assert 'href="/graphql"' not in index.text
    doc = await client.get("/docs/clients.md")
    assert doc.status_code == 200
    assert doc.text.startswith("# Clients")
    for name in ("..%2Fpyproject.toml", "nope.md", "release_simulation.png"):
        assert (await client.get(f"/docs/{name}")).status_code == 404
    schema = await client.get("/schema.graphql")
    committed = Path(__file__).resolve().parents[2] / "schema.graphql"
    assert schema.text + "\n" == committed.read_text(encoding="utf-8")


async def test_graphiql_assets_are_served_in_dev_only(client, db, settings, monkeypatch):
    assert (await client.get("/static/graphiql/graphiql.min.js")).status_code == 404
    monkeypatch.setattr(settings, "app_env", "dev")
    app = create_app(manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        assert "/static/graphiql/graphiql.min.js" in page.text
        assert "unpkg" not in page.text and "https://" not in page.text
        assert 'href="/graphql"' in (await c.get("/")).text
        js = await c.get("/static/graphiql/react.production.min.js")
        assert js.status_code == 200 and "React" in js.text[:2000]
