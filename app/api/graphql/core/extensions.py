"""What a client sees of a failure.

A DomainError raised outside a typed mutation result (e.g. from a query) keeps its
code, field and message. The client's own mistakes that GraphQL catches before any
resolver runs keep their message and get a code and, where there is one, the field:
`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, and `INVALID` for a value that
does not coerce (a variable, an argument: e.g. a malformed ID given to `node`).
Anything else is unexpected: it is logged under the request id (its type and where it
was raised: app/infra/logging.py keeps tracebacks and secrets out of every log line), and the
client sees only "internal error" and that id.

Every message is put in the request's language (app/infra/i18n.py). GraphQL's own wording of
a client's mistake has no Chinese of its own: in Chinese the client reads the summary
for its code (and the field), in English GraphQL's detail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from graphql.language import FieldNode
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension

from app.infra.errors import DomainError
from app.infra.i18n import lookup, summary, translate

log = logging.getLogger("app.graphql")


class ErrorShaping(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        self._shape(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # each message of a subscription, before it is sent (`on_operation` ends only
        # with the stream); runs for streams only, so a request pays nothing for it
        self._shape(result)
        yield

    def _shape(self, result: Any) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        ctx = self.execution_context.context
        rid = getattr(ctx, "request_id", "-")
        shaped = []
        for err in result.errors or []:
            original = err.original_error
            client_error = _client_error(err)
            if client_error is not None:
                shaped.append(client_error)
            elif original is None:
                shaped.append(_translated(err))
            elif isinstance(original, DomainError):
                shaped.append(
                    GraphQLError(
                        translate(original.message),
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
                shaped.append(_translated(err))
            else:
                log.error(
                    "unexpected error request_id=%s path=%s",
                    rid,
                    err.path,
                    exc_info=(type(original), original, original.__traceback__),
                )
                shaped.append(
                    GraphQLError(
                        translate(f"internal error (request id {rid})"),
                        nodes=err.nodes,
                        path=err.path,
                        extensions={"code": "INTERNAL", "requestId": rid},
                    )
                )
        result.errors = shaped


# graphql-core's wording of a variable that does not coerce: "Variable '$i' has invalid
# value at .items[0].amountFen: ..." (or "... of required type ... was not provided.")
_VARIABLE = re.compile(r"^Variable '\$(\w+)' (?:has invalid value|of required type|of non-null)")
_AT = re.compile(r" at ((?:\.\w+|\[\d+\])+):")


def _client_error(err: GraphQLError) -> GraphQLError | None:
    """The error with its code and field, when it is the client's own mistake about the
    request (never an error of ours); None otherwise."""
    if err.extensions and "code" in err.extensions:
        return None
    message = err.message
    variable = _VARIABLE.match(message)
    if variable is not None:
        at = _AT.search(message)
        names = re.findall(r"\.(\w+)", at.group(1)) if at else []
        field = names[-1] if names else variable.group(1)
        return _with(err, "INVALID", field)
    if isinstance(err.original_error, StrawberryInputCoercionError):
        node = err.nodes[0] if err.nodes else None
        args = (node.arguments if isinstance(node, FieldNode) else None) or ()
        return _with(err, "INVALID", args[0].name.value if len(args) == 1 else None)
    if err.original_error is None and err.path is None:  # before execution
        code = "GRAPHQL_PARSE_FAILED" if message.startswith("Syntax Error") else None
        return _with(err, code or "GRAPHQL_VALIDATION_FAILED", None)
    return None


def _with(err: GraphQLError, code: str, field: str | None) -> GraphQLError:
    chinese = summary(code, field)
    if chinese is not None:  # our own limits have their Chinese; GraphQL's wording not
        chinese = lookup(err.message) or chinese
    return GraphQLError(
        chinese or err.message,
        nodes=err.nodes,
        source=err.source,
        positions=err.positions,
        path=err.path,
        extensions={**(err.extensions or {}), "code": code, "field": field},
    )


def _translated(err: GraphQLError) -> GraphQLError:
    message = translate(err.message)
    if message == err.message:
        return err
    return GraphQLError(
        message,
        nodes=err.nodes,
        source=err.source,
        positions=err.positions,
        path=err.path,
        original_error=err.original_error,
        extensions=err.extensions,
    )
