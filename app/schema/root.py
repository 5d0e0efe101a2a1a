"""The root schema: each domain contributes a Query and a Mutation type, merged here."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, ClassVar

import strawberry
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types

from app.config import get_settings
from app.resolvers.auth import AuthMutation, AuthQuery
from app.resolvers.discovery import DiscoveryMutation, DiscoveryQuery
from app.resolvers.merchants import MerchantMutation, MerchantQuery
from app.resolvers.orders import OrderMutation, OrderQuery
from app.resolvers.payments import PaymentMutation, PaymentQuery
from app.resolvers.releases import ReleaseQuery
from app.schema.execution import PlainCompletion
from app.schema.extensions import ErrorShaping
from app.schema.scalars import SCALAR_MAP


@strawberry.type
class NodeQuery:
    node: relay.Node | None = relay.node()


QUERIES: list[type] = [
    NodeQuery,
    AuthQuery,
    MerchantQuery,
    OrderQuery,
    DiscoveryQuery,
    ReleaseQuery,
    PaymentQuery,
]
MUTATIONS: list[type] = [
    AuthMutation,
    MerchantMutation,
    OrderMutation,
    DiscoveryMutation,
    PaymentMutation,
]

Query = merge_types("Query", tuple(QUERIES))
Mutation = merge_types("Mutation", tuple(MUTATIONS))


class Schema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        # ErrorShaping logs what is unexpected, once, with the request id.
        return None


@functools.cache
def _rules(depth: int, aliases: int, prod: bool) -> tuple[Any, ...]:
    """The guard rules for one set of limits, built once: the same rule classes on every
    request let the validation cache recognise a query it has already validated."""
    rules = [
        *QueryDepthLimiter(max_depth=depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=aliases).validation_rules,
    ]
    if prod:
        rules += DisableIntrospection().validation_rules
    return tuple(rules)


class RequestGuards(AddValidationRules):
    """Depth, alias and introspection limits from the live settings."""

    def __init__(self) -> None:
        s = get_settings()
        super().__init__(list(_rules(s.max_query_depth, s.max_aliases, s.app_env == "prod")))


class DocumentValidationCache(SchemaExtension):
    """Strawberry's ValidationCache keys an LRU cache by the parsed document, which
    hashes the whole syntax tree on every request. The parser cache hands the same
    document object to every request of the same query, so the result is kept by the
    document's identity (and the rules) instead; the entry holds the document, so its
    id cannot be reused while the entry lives."""

    _cache: ClassVar[dict[tuple[int, tuple[Any, ...]], tuple[Any, list[Any]]]] = {}
    MAXSIZE = 512

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        document, rules = ec.graphql_document, ec.validation_rules
        key = (id(document), rules)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is document:
            errors = hit[1]
        else:
            errors = validate_document(ec.schema._schema, document, rules)
            if len(self._cache) >= self.MAXSIZE:
                self._cache.clear()
            self._cache[key] = (document, errors)
        ec.pre_execution_errors = errors
        yield


def _max_tokens() -> MaxTokensLimiter:
    return MaxTokensLimiter(max_token_count=get_settings().max_tokens)


schema = Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(scalar_map=SCALAR_MAP),
    execution_context_class=PlainCompletion,
    extensions=[
        ErrorShaping,
        _max_tokens,  # before parsing: it sets the parser's token limit
        lambda: ParserCache(maxsize=512),
        RequestGuards,
        DocumentValidationCache,
    ],
)
