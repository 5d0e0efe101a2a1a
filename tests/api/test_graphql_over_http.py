"""GraphQL over HTTP: the answer's media type follows Accept, and under
application/graphql-response+json a request error is HTTP 400 without `data` while an
executed request is 200 — on the short path (POST JSON) and the view's (GET)."""

from __future__ import annotations

import json

import pytest

from app.api.media import GRAPHQL_RESPONSE, JSON, answer_media

GR = {"accept": GRAPHQL_RESPONSE}


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE};q=0", JSON),
        (f"{GRAPHQL_RESPONSE};charset=utf-8, */*;q=0.1", GRAPHQL_RESPONSE),
    ],
)
def test_answer_media(accept, media):
    assert answer_media(accept) == media


async def post(client, query, headers, variables=None):
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def get(client, query, headers):
    return await client.get("/graphql", params={"query": query}, headers=headers)


@pytest.mark.parametrize("send", [post, get])
@pytest.mark.parametrize(
    ("query", "code"),
    [("{", "GRAPHQL_PARSE_FAILED"), ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED")],
)
async def test_request_errors_are_400_without_data(client, send, query, code):
    res = await send(client, query, GR)
    assert res.status_code == 400
    assert res.headers["content-type"] == GRAPHQL_RESPONSE
    body = res.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


async def test_a_variable_that_does_not_coerce_is_400(client):
    q = """query($r: Int!) {
      nearbyMerchants(location: {lat: 30, lng: 120}, radiusM: $r) { totalCount } }"""
    res = await post(client, q, GR, {"r": "far"})
    assert res.status_code == 400
    assert "data" not in res.json()


@pytest.mark.parametrize("send", [post, get])
async def test_an_executed_request_is_200_even_with_field_errors(client, send):
    # `me` needs a caller: an error at its path, execution happened
    res = await send(client, "{ __typename me { id } }", GR)
    assert res.status_code == 200
    assert res.headers["content-type"] == GRAPHQL_RESPONSE
    body = res.json()
    assert body["data"] == {"__typename": "Query", "me": None}
    assert body["errors"][0]["path"] == ["me"]


@pytest.mark.parametrize("send", [post, get])
async def test_application_json_answers_as_before(client, send):
    res = await send(client, "{", {"accept": "application/json"})
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    assert json.loads(res.text)["data"] is None


async def test_refusals_before_graphql_take_the_accepted_media(client):
    res = await client.post(
        "/graphql", content=b"{not json", headers={**GR, "content-type": "application/json"}
    )
    assert res.status_code == 400
    assert res.headers["content-type"] == GRAPHQL_RESPONSE
    assert res.json()["errors"][0]["extensions"]["code"] == "BODY_NOT_JSON"
