"""What a partner app's request costs it: its document's cost, charged against the app's
bucket before execution (app/infra/cost_bucket.py), the unspent part given back after,
reported in `extensions.cost` in Shopify's shape, and written to the read audit.

    "extensions": {"cost": {"requestedQueryCost": 52, "actualQueryCost": 12,
        "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 988,
                           "restoreRate": 50}}}

A request the bucket cannot pay for is not executed: it answers HTTP 200 with a
`THROTTLED` error (as Shopify does), `actualQueryCost` null and `retryAfter` the seconds
until enough has been restored. A document costing more than the bucket can ever hold
is `QUERY_TOO_COMPLEX`. When Redis is out of reach the request runs unmetered (logged)
and the figures it cannot know are null.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from redis.exceptions import RedisError

from app.api.graphql.core.cost import actual_cost, query_cost
from app.api.graphql.runtime.selection import core_schema
from app.domain.principals import PartnerPrincipal
from app.infra import cost_bucket
from app.infra.config import get_settings
from app.services import read_audit

log = logging.getLogger(__name__)

_ATTRIBUTE = "partner_charge"
_REDIS_DOWN = (RedisError, OSError, TimeoutError)


@dataclass
class Charge:
    bucket: cost_bucket.Bucket
    requested: int
    taken: bool = False
    throttled: bool = False
    available: int | None = None
    settled: dict[str, Any] | None = None


def bucket_of(principal: PartnerPrincipal) -> cost_bucket.Bucket:
    s = get_settings()
    return cost_bucket.bucket(
        principal.key,
        principal.cost_capacity or s.partner_cost_capacity,
        principal.cost_restore_rate or s.partner_cost_restore_rate,
    )


async def charge(context: Any, principal: PartnerPrincipal) -> GraphQLError | None:
    """Take the request's cost from the app's bucket before it runs; the refusal to
    answer with instead of running it, or None."""
    measured = query_cost(context)
    b = bucket_of(principal)
    c = Charge(b, measured.cost if measured is not None else 0)
    setattr(context, _ATTRIBUTE, c)
    if c.requested > b.capacity:
        return GraphQLError(
            f"query cost {c.requested} exceeds the limit of {b.capacity}",
            extensions={"code": "QUERY_TOO_COMPLEX", "field": None, "cost": c.requested,
                        "limit": b.capacity},
        )  # fmt: skip
    try:
        level = await cost_bucket.take(b, c.requested)
    except _REDIS_DOWN as exc:
        log.warning("partner cost not charged: %s", type(exc).__name__)
        c.taken = True  # (runs unmetered: nothing to give back)
        c.requested = 0
        return None
    c.available, c.taken = level.available, level.taken
    if level.taken:
        return None
    c.throttled = True
    wait = max(1, math.ceil((c.requested - level.available) / b.restore_rate))
    return GraphQLError(
        f"throttled: this request costs {c.requested} and {level.available} is available; "
        f"try again in {wait} s",
        extensions={"code": "THROTTLED", "field": None, "retryAfter": wait},
    )


async def settle(execution_context: Any, principal: PartnerPrincipal) -> dict[str, Any]:
    """The `cost` extension of a partner's request (once per request: the points not
    spent go back, and the audit row is recorded)."""
    context = execution_context.context
    c: Charge | None = getattr(context, _ATTRIBUTE, None)
    if c is None:  # never reached execution (a document that does not validate)
        measured = query_cost(context)
        c = Charge(bucket_of(principal), measured.cost if measured is not None else 0)
        setattr(context, _ATTRIBUTE, c)
    if c.settled is not None:
        return c.settled
    actual: int | None = None
    result = execution_context.result
    if c.taken:
        data = getattr(result, "data", None)
        document = execution_context.graphql_document
        actual = c.requested
        if isinstance(data, dict) and document is not None:
            schema = core_schema(execution_context.schema)
            found = actual_cost(
                schema,
                document,
                execution_context.operation_name,
                data,
                execution_context.variables,
            )
            actual = min(c.requested, found)
        if actual < c.requested:
            c.available = await _level(cost_bucket.give_back(c.bucket, c.requested - actual), c)
    elif not c.throttled:
        actual = 0  # not executed: nothing spent
        c.available = await _level(cost_bucket.peek(c.bucket), c)
    c.settled = {
        "requestedQueryCost": c.requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": c.bucket.capacity,
            "currentlyAvailable": c.available,
            "restoreRate": c.bucket.restore_rate,
        },
    }
    _audit(execution_context, principal, c, actual)
    return c.settled


async def _level(step: Any, c: Charge) -> int | None:
    try:
        level: cost_bucket.Level = await step
    except _REDIS_DOWN as exc:
        log.warning("partner cost not settled: %s", type(exc).__name__)
        return c.available
    return level.available


def _audit(
    execution_context: Any, principal: PartnerPrincipal, c: Charge, actual: int | None
) -> None:
    name, kind = _operation(execution_context)
    query = execution_context.query
    read_audit.record(
        read_audit.Read(
            app_id=principal.app_id,
            operation_name=name,
            operation_type=kind,
            document_sha256=hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()
            if isinstance(query, str)
            else None,
            requested_cost=c.requested,
            actual_cost=actual,
            throttled=c.throttled,
            request_id=getattr(execution_context.context, "request_id", "-"),
            at=datetime.now(UTC),
        )
    )


def _operation(execution_context: Any) -> tuple[str | None, str | None]:
    """The operation's name (as asked for, or the document's only operation's) and type."""
    document = execution_context.graphql_document
    asked = execution_context.operation_name
    if document is None:
        return asked, None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for op in operations:
        name = op.name.value if op.name is not None else None
        if (asked is not None and name == asked) or (asked is None and len(operations) == 1):
            return name, op.operation.value
    return asked, None
