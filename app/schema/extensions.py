"""What a client sees of a failure.

A DomainError raised outside a typed mutation result (e.g. from a query) keeps its
code, field and message. Anything else is unexpected: it is logged with its traceback
under the request id, and the client sees only "internal error" and that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError

log = logging.getLogger("app.graphql")


class ErrorShaping(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not getattr(result, "errors", None):
            return
        ctx = self.execution_context.context
        rid = getattr(ctx, "request_id", "-")
        shaped = []
        for err in result.errors or []:
            original = err.original_error
            if original is None:  # validation/parse errors: safe and useful as they are
                shaped.append(err)
            elif isinstance(original, DomainError):
                shaped.append(
                    GraphQLError(
                        original.message,
                        nodes=err.nodes,
                        path=err.path,
                        extensions={"code": original.code, "field": original.field},
                    )
                )
            elif (
                isinstance(original, GraphQLError)
                or type(original).__name__ == "PermissionError"
                or err.extensions
            ):
                shaped.append(err)
            else:
                log.error(
                    "unexpected error request_id=%s path=%s",
                    rid,
                    err.path,
                    exc_info=(type(original), original, original.__traceback__),
                )
                shaped.append(
                    GraphQLError(
                        f"internal error (request id {rid})",
                        nodes=err.nodes,
                        path=err.path,
                        extensions={"code": "INTERNAL", "requestId": rid},
                    )
                )
        result.errors = shaped
