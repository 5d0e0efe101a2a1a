"""The nearby query's shorter paths give what the general ones give: every field of a
result node as the domain ranked it, and the HTTP view's answers as Strawberry's own
view gives them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from strawberry.asgi import GraphQL

from app.adapters.discovery import index
from app.api.graphql.core.ids import encode_id
from app.api.graphql.schema import schema
from app.api.http import GraphQLApp
from app.models.geo import ExposureBoost
from app.services.discovery import nearby
from tests.geo.factories import CENTRE, clear_geo_keys, merchant, offset
from tests.helpers import gql


@pytest.fixture(autouse=True)
async def geo_keys(db):
    await clear_geo_keys()
    yield


ALL_FIELDS = """
query($loc: LocationInput!) {
  nearbyMerchants(location: $loc, first: 5) {
    totalCount
    edges { node { merchantId name category address lat lng coordSystem discountBps
                          rating distanceM score boostedUntil
                          scoreParts { distance discount heat rating boost } } }
  }
}"""


async def test_every_node_field_is_the_ranked_item(client):
    a = await merchant(at=offset(*CENTRE, north_m=250), name="a", rating_x100=430)
    b = await merchant(at=offset(*CENTRE, east_m=700), name="b", category="drinks")
    until = datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    await ExposureBoost.create(
        merchant_id=b.id,
        points=1,
        hours=1,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=until,
        idem_key="test-boost",
        ledger_entry_id=0,
        created_by_id=b.owner_id,
    )
    await index.sync_merchant(b.id)
    loc = {"lat": CENTRE[0], "lng": CENTRE[1], "coordSystem": "GCJ02"}
    body = await gql(client, ALL_FIELDS, {"loc": loc})
    conn = body["data"]["nearbyMerchants"]
    page = await nearby(*CENTRE, first=5, cursors=False)
    assert conn["totalCount"] == page.total == 2
    got = [e["node"] for e in conn["edges"]]
    want = [
        {
            "merchantId": str(encode_id("Merchant", x.merchant_id)),
            "name": x.name,
            "category": x.category,
            "address": x.address,
            "lat": x.lat,
            "lng": x.lng,
            "coordSystem": "GCJ02",
            "discountBps": x.discount_bps,
            "rating": x.rating_x100 / 100,
            "distanceM": round(x.distance_m, 2),
            "score": round(x.score, 6),
            "boostedUntil": (
                datetime.fromtimestamp(x.boost_until, UTC).isoformat() if x.boost_until else None
            ),
            "scoreParts": {
                "distance": pytest.approx(x.parts.distance, abs=1e-9),
                "discount": x.parts.discount,
                "heat": x.parts.heat,
                "rating": x.parts.rating,
                "boost": x.parts.boost,
            },
        }
        for x in page.items
    ]
    assert got == want
    # the boosted one ranks first and shows its boost; both show their own card
    assert [n["name"] for n in got] == ["b", "a"]
    assert got[0]["boostedUntil"] == until.isoformat() and got[1]["boostedUntil"] is None
    assert (got[0]["category"], got[1]["address"], got[1]["rating"]) == ("drinks", "a road", 4.3)
    assert a.id and b.id


class StrawberryView(GraphQLApp):
    """The same app view without its short POST path: Strawberry's own request handling."""

    __call__ = GraphQL.__call__  # type: ignore[assignment]


REQUESTS: list[tuple[dict[str, str], bytes]] = [
    ({}, b'{"query": "{ nearbyMerchants(location: {lat: 31.23, lng: 121.47}) { totalCount } }"}'),
    # variables, an operation name, and the charset parameter
    (
        {"content-type": "application/json; charset=utf-8"},
        b'{"query": "query Q($l: LocationInput!) { nearbyMerchants(location: $l) '
        b'{ totalCount } }", "operationName": "Q", '
        b'"variables": {"l": {"lat": 31.2, "lng": 121.4, "coordSystem": "WGS84"}}}',
    ),
    # a typed error from the resolver, a validation error, an unknown operation
    ({}, b'{"query": "{ nearbyMerchants(location: {lat: 95, lng: 121}) { totalCount } }"}'),
    ({}, b'{"query": "{ nearbyMerchants { totalCount } }"}'),
    ({}, b'{"query": "query A { __typename }", "operationName": "B"}'),
    # not for the short path: no query, bad JSON, a batch, wrong types, another type
    ({}, b'{"variables": {}}'),
    ({}, b'{"query": '),
    ({}, b'[{"query": "{ __typename }"}]'),
    ({}, b'{"query": "{ __typename }", "variables": [1]}'),
    ({}, b'{"query": 5}'),
    ({"content-type": "text/plain"}, b'{"query": "{ __typename }"}'),
]


@pytest.mark.parametrize(("headers", "body"), REQUESTS)
async def test_the_short_post_path_answers_as_strawberrys_view(db, headers, body):
    await merchant(at=CENTRE, name="x")
    answers = []
    for view in (GraphQLApp(schema), StrawberryView(schema)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=view), base_url="http://test"
        ) as c:
            resp = await c.post(
                "/graphql", content=body, headers={"content-type": "application/json", **headers}
            )
        answers.append(
            (resp.status_code, resp.headers.get("content-type"), resp.content, len(resp.content))
        )
    ours, strawberrys = answers
    if strawberrys[1].startswith("text/plain"):
        # the view's refusals are JSON with a code here (and a non-object body is a 400
        # where the view answered a 500); the same status otherwise
        assert ours[1] == "application/json" and b'"code":' in ours[2], ours
        assert 400 <= ours[0] < 500 and (strawberrys[0] >= 500 or ours[0] == strawberrys[0])
        return
    assert ours == strawberrys
    assert int(ours[3]) > 0
