"""GraphQL over HTTP (the GraphQL-over-HTTP spec): which media type an answer takes,
and its status.

A client that accepts `application/graphql-response+json` gets it, with the spec's
status codes: a request error (the document does not parse or validate, a variable
does not coerce, the document cannot be had: nothing was executed) is HTTP 400 with
no `data` entry; an executed request is 200. A client that asks for `application/json`
(or sends no Accept) gets that, always 200 for a well-formed request, as before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_JSON_RANGES = (JSON, "application/*", "*/*")


def answer_media(accept: str | None) -> str:
    """The media type to answer in: graphql-response+json when the Accept header lists
    it (q > 0) at least as high as application/json, else application/json."""
    if not accept or GRAPHQL_RESPONSE not in accept:  # (the usual header: no parsing)
        return JSON
    best = {GRAPHQL_RESPONSE: 0.0, JSON: 0.0}
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = GRAPHQL_RESPONSE if media == GRAPHQL_RESPONSE else JSON
        if media == GRAPHQL_RESPONSE or media in _JSON_RANGES:
            best[kind] = max(best[kind], q)
    wanted = best[GRAPHQL_RESPONSE]
    return GRAPHQL_RESPONSE if wanted > 0 and wanted >= best[JSON] else JSON


def is_request_error(response_data: Mapping[str, Any]) -> bool:
    """Nothing was executed: no data, and every error is about the request as a whole
    (an error met while executing names the field it was met at: `path`)."""
    errors = response_data.get("errors") or ()
    return (
        response_data.get("data") is None
        and bool(errors)
        and all(not isinstance(e, Mapping) or e.get("path") is None for e in errors)
    )


def is_request_error_result(result: ExecutionResult) -> bool:
    """The same, of an execution's result."""
    return (
        result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or ())
    )


def request_error_status(media: str) -> int:
    """The status of a refusal of a well-formed request before execution."""
    return 400 if media == GRAPHQL_RESPONSE else 200
