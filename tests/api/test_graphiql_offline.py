"""GraphiQL works with no network: the page, React and GraphiQL come from the app
itself, and a query typed into it shows its result. A real browser (headless
Chromium) against a real server; every request that leaves loopback is refused and
must not have been made."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from tests.browser import offline_page
from tests.live_server import live_server

QUERY = '{ __typename nearbyMerchants(location: {lat: "30.27", lng: "120.15"}) { totalCount } }'


async def test_graphiql_renders_a_query_result_offline(db):
    with live_server(APP_ENV="dev") as base:
        async with offline_page() as (page, refused):
            loaded: list[str] = []
            page.on("requestfinished", lambda r: loaded.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # GET / leads to GraphiQL
            await page.goto(base + "/")
            await page.click("text=GraphiQL")
            await page.wait_for_url(base + "/graphql")
            await page.goto(f"{base}/graphql?q={quote(QUERY)}")
            await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
            await page.click(".graphiql-execute-button")
            response = page.locator(".graphiql-response")
            await response.get_by_text('"Query"').wait_for(timeout=30_000)
            text = (await response.inner_text()).replace("\xa0", " ")
    assert '"__typename": "Query"' in text
    assert '"totalCount": 0' in text
    assert refused == [], refused
    assert errors == [], errors
    assert {urlsplit(u).path for u in loaded} >= {
        "/static/graphiql/graphiql.min.js",
        "/static/graphiql/graphiql.min.css",
        "/static/graphiql/react.production.min.js",
        "/static/graphiql/react-dom.production.min.js",
    }
