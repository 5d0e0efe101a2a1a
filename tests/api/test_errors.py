"""Unexpected failures reach the client as a request id, never a traceback."""

from __future__ import annotations

import logging

import strawberry

from app.schema.context import Context
from app.schema.extensions import ErrorShaping
from app.schema.root import Schema


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
    assert err.message == "internal error (request id req-123)"
    assert err.extensions == {"code": "INTERNAL", "requestId": "req-123"}
    assert "hunter2" not in err.message
    # the operator sees the traceback in the log, under the same id
    assert "req-123" in caplog.text and "RuntimeError" in caplog.text
