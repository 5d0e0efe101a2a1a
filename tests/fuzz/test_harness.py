"""The fuzz's own parts: a fuzz that could not see a failure, or sent documents the
schema refuses before any resolver runs, would pass while testing nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import graphql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import serve
from tests.fuzz.verdict import Judge, Tally
from tests.fuzz.walk import Leaf, operations
from tests.fuzz.world import World

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


async def _answer(request: Request) -> Response:
    kind = (await request.json())["query"]
    if kind == "crash":
        return PlainTextResponse("Internal Server Error", status_code=500)
    if kind == "internal":
        rid = request.headers["x-request-id"]
        error = {"message": "internal error", "extensions": {"code": "INTERNAL", "requestId": rid}}
        return JSONResponse({"data": None, "errors": [error]})
    if kind == "uncoded":
        return JSONResponse({"data": None, "errors": [{"message": "something"}]})
    if kind == "html":
        return PlainTextResponse("<html>", status_code=400)
    if kind == "typed":
        error = {"message": "no", "extensions": {"code": "INVALID", "field": "x"}}
        return JSONResponse({"data": None, "errors": [error]})
    return JSONResponse({"data": {"ok": True}})


def test_the_judge_counts_every_kind_of_failure():
    app = Starlette(routes=[Route("/graphql", _answer, methods=["POST"])])
    with serve(app) as url, tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        log.write_text("")
        tally = Tally("harness")
        judge = Judge(url, log, tally)
        for kind in ("crash", "internal", "uncoded", "html", "typed", "fine", "internal"):
            judge.post(
                f'{{"query": "{kind}"}}', {}, role="r", where=kind, input_class="c", sample=kind
            )
        judge.close()
    assert (tally.tried, tally.http_5xx, tally.internal, tally.uncoded, tally.other) == (
        7,
        1,
        2,
        1,
        1,
    )
    assert sorted(f.where for f in tally.findings) == ["crash", "html", "internal", "uncoded"]


def _world() -> World:
    gid = "TWVyY2hhbnQ6MQ=="
    return World(1, 2, 3, gid, gid, gid, gid, gid, "POS-1", "secret", "msp1.1.0.x")


def test_the_walk_sends_valid_documents_and_reaches_every_text_argument():
    schema = graphql.build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    ops = operations(schema, _world())
    roots = [schema.query_type, schema.mutation_type]
    assert len(ops) == sum(len(r.fields) for r in roots if r is not None)
    for op in ops:
        # the documents pass validation (else every request would stop there) ...
        assert graphql.validate(schema, graphql.parse(op.document)) == [], op.field
    leaves = {(op.field, leaf) for op in ops for leaf in op.leaves}
    # ... and hostile values reach text inside input objects and lists too
    for expected in [
        ("applyMerchant", Leaf(("input", "location", "lat"), "Decimal")),
        ("applyMerchant", Leaf(("input", "name"), "String")),
        ("setMerchantChannels", Leaf(("channels", 0, "providerMerchantId"), "String")),
        ("createOrder", Leaf(("input", "merchantId"), "ID")),
        ("consumptionHeatmap", Leaf(("until",), "DateTime")),
        ("merchantStats", Leaf(("from",), "Date")),
        ("posDeviceLogin", Leaf(("secret",), "String")),
    ]:
        assert expected in leaves
