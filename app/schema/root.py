"""The root schema: each domain contributes a Query and a Mutation type, merged here."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, ClassVar

import strawberry
from graphql import GraphQLError
from graphql.language.parser import parse
from strawberry import relay
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types

from app.config import get_settings
from app.resolvers.agents import AgentQuery
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
    AgentQuery,
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


_parse = functools.lru_cache(maxsize=512)(parse)


class RequestGuards(ErrorShaping):
    """Token, depth, alias and introspection limits from the live settings, with parsed
    and validated documents cached, and the error shaping around it all: Strawberry's
    MaxTokensLimiter, ParserCache, AddValidationRules and ValidationCache and our
    ErrorShaping in one extension, as Strawberry sets up every extension's hooks on
    every request.

    Validation results are kept by the document's identity and the rules, not by
    hashing the whole syntax tree (what ValidationCache's LRU key does on every
    request): the parse cache hands the same document object to every request of the
    same query (and token limit). An entry holds its document, so the id stays its own.
    """

    _validated: ClassVar[dict[tuple[int, tuple[Any, ...]], tuple[Any, list[Any]]]] = {}
    MAX_VALIDATED = 512

    def on_operation(self) -> Iterator[None]:
        s = get_settings()
        ec = self.execution_context
        ec.parse_options["max_tokens"] = s.max_tokens  # before parsing
        ec.validation_rules = ec.validation_rules + _rules(
            s.max_query_depth, s.max_aliases, s.app_env == "prod"
        )
        self._parse_and_validate()
        yield from super().on_operation()  # ErrorShaping: after the operation

    def _parse_and_validate(self) -> None:
        """Parse and validate here rather than in `on_parse`/`on_validate` hooks: each hook
        costs Strawberry a context manager on every request. A document set here is not
        parsed again, and errors set here are what validation would give, so Strawberry
        skips both steps; its own checks between them (operation type) still run. A
        query that does not parse is left to Strawberry's parser, which raises the same
        error in its own place."""
        ec = self.execution_context
        if ec.query is None or ec.graphql_document is not None:
            return
        try:
            document = _parse(ec.query, **ec.parse_options)
        except GraphQLError:
            return
        ec.graphql_document = document
        rules = ec.validation_rules
        key = (id(document), rules)
        hit = self._validated.get(key)
        if hit is not None and hit[0] is document:
            errors = hit[1]
        else:
            errors = validate_document(ec.schema._schema, document, rules)
            if len(self._validated) >= self.MAX_VALIDATED:
                self._validated.clear()
            self._validated[key] = (document, errors)
        ec.pre_execution_errors = errors


class CachedNameConverter(NameConverter):
    """The same names, converted once (Strawberry converts every argument's name on
    every call of a field with arguments)."""

    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


schema = Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(scalar_map=SCALAR_MAP, name_converter=CachedNameConverter()),
    execution_context_class=PlainCompletion,
    extensions=[RequestGuards],
)
