"""The root schema: each domain contributes a Query and a Mutation type, merged here."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from app.config import Settings, get_settings
from app.resolvers.auth import AuthMutation, AuthQuery
from app.resolvers.discovery import DiscoveryMutation, DiscoveryQuery
from app.resolvers.merchants import MerchantMutation, MerchantQuery
from app.resolvers.orders import OrderMutation, OrderQuery
from app.resolvers.payments import PaymentMutation, PaymentQuery
from app.resolvers.releases import ReleaseQuery
from app.schema.extensions import ErrorShaping


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


def _limits(make: Any) -> Any:
    # Built per request from the live settings, so one schema serves every environment.
    return lambda: make(get_settings())


def _introspection_guard(settings: Settings) -> SchemaExtension:
    return DisableIntrospection() if settings.app_env == "prod" else SchemaExtension()


schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        ErrorShaping,
        _limits(lambda s: QueryDepthLimiter(max_depth=s.max_query_depth)),
        _limits(lambda s: MaxAliasesLimiter(max_alias_count=s.max_aliases)),
        _limits(lambda s: MaxTokensLimiter(max_token_count=s.max_tokens)),
        _limits(_introspection_guard),
    ],
)
