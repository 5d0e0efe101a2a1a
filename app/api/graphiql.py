"""The GraphiQL page (dev), its scripts and styles served by the app itself.

Strawberry's own page loads React and GraphiQL from a CDN: a blank "Loading..." page
without internet (or where that CDN is slow or blocked). This page loads the same
releases from `/static/graphiql/` (vendored: app/api/static/graphiql/VENDORED.md) and
nothing from anywhere else."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = "/static/graphiql"

_PAGE = """<!doctype html>
<html lang="zh-CN">
  <head>
    <meta charset="utf-8" />
    <title>GraphiQL · multistore points</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{assets}/graphiql.min.css" />
    <style>
      body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
      #graphiql {{ height: 100vh; display: flex; }}
    </style>
    <script src="{assets}/react.production.min.js"></script>
    <script src="{assets}/react-dom.production.min.js"></script>
    <script src="{assets}/graphiql.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading...</div>
    <script>
      const url = new URL(window.location.href);
      const fetchURL = url.origin + url.pathname;
      const params = url.searchParams;
      const wsURL = fetchURL.replace(/^http/, "ws");
      const fetcher = GraphiQL.createFetcher({{ url: fetchURL, subscriptionUrl: wsURL }});
      const root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(
        React.createElement(GraphiQL, {{
          fetcher: fetcher,
          query: params.get("q") || undefined,
          defaultQuery: "{{ __typename }}\\n",
          variables: params.get("variables") || undefined,
          defaultEditorToolsVisibility: true,
          isHeadersEditorEnabled: true,
          shouldPersistHeaders: true,
          inputValueDeprecation: true,
        }}),
      );
    </script>
  </body>
</html>
"""


def graphiql_page() -> str:
    """The page for `GET /graphql` with `Accept: text/html`; `?q=` and
    `?variables=` prefill its editors (the index page links examples that way)."""
    return _PAGE.format(assets=ASSETS)


def static_files() -> Mount:
    return Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
