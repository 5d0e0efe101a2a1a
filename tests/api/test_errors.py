"""Unexpected failures reach the client as a request id, never a traceback."""

from __future__ import annotations

import logging

import strawberry

from app.api.graphql.core.context import Context
from app.api.graphql.core.extensions import ErrorShaping
from app.api.graphql.schema import Schema


@strawberry.type
class _Q:
    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError("secret-db-password=hunter2 at line 42")


async def test_unexpected_error_is_masked_and_logged(caplog):
    schema = Schema(query=_Q, extensions=[ErrorShaping])
    ctx = Context(request=None, request_id="req-123")
    with caplog.at_level(logging.ERROR, logger="app.graphql"):
        res = await schema.execute("{ boom }", context_value=ctx)
    err = res.errors[0]
    assert err.message == "服务器内部错误（请求编号 req-123）"
    assert err.extensions == {"code": "INTERNAL", "requestId": "req-123"}
    assert "hunter2" not in err.message
    # the operator sees the traceback in the log, under the same id
    assert "req-123" in caplog.text and "RuntimeError" in caplog.text


ORDER = "query($id: ID!) { order(id: $id) { id } }"


async def test_a_malformed_id_in_a_query_is_a_typed_error(client, db):
    from tests.factories import make_user
    from tests.helpers import gql, token_for

    token = await token_for((await make_user()).id, "consumer")
    res = await gql(client, ORDER, {"id": "not-an-id"}, token, expect_errors=True)
    (err,) = res["errors"]
    assert err["extensions"] == {"code": "INVALID", "field": "id"}
    assert res["data"] == {"order": None}


async def test_the_clients_own_request_mistakes_carry_a_code_and_field(client, db, caplog):
    from tests.helpers import gql

    cases = [
        # a value that does not coerce: the field inside the variable is named
        (
            "mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename } }",
            {"i": {"merchantId": "x", "amountFen": "lots", "idempotencyKey": "k"}},
            ("INVALID", "amountFen"),
        ),
        (
            "mutation($i: CreateOrderInput!) { createOrder(input: $i) { __typename } }",
            None,
            ("INVALID", "i"),  # not given at all
        ),
        ("{ order(id: }", None, ("GRAPHQL_PARSE_FAILED", None)),
        ("query($a: Int) { __typename }", None, ("GRAPHQL_VALIDATION_FAILED", None)),
        ("{ nosuchfield }", None, ("GRAPHQL_VALIDATION_FAILED", None)),
        ('{ node(id: "%%%") { id } }', None, ("INVALID", "id")),
    ]
    with caplog.at_level(logging.ERROR, logger="app.graphql"):
        for query, variables, (code, field) in cases:
            res = await gql(client, query, variables, expect_errors=True)
            ext = res["errors"][0]["extensions"]
            assert (ext["code"], ext["field"]) == (code, field), (query, res)
            assert "服务器内部错误" not in res["errors"][0]["message"]
    assert "unexpected error" not in caplog.text
