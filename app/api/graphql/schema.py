"""The root schema: each domain contributes a Query and a Mutation type, merged here."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, ClassVar

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    OverlappingFieldsCanBeMergedRule,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language.parser import parse
from strawberry import relay
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from app.api.graphql.agents.resolvers import AgentMutation, AgentQuery
from app.api.graphql.audit.resolvers import AuditQuery
from app.api.graphql.core import partner_budget
from app.api.graphql.core.boundary import literal_problem, variable_fields, variable_problem
from app.api.graphql.core.cost import DocumentCost, QueryCost, keep_cost, too_complex
from app.api.graphql.core.extensions import ErrorShaping
from app.api.graphql.core.ids import InputID, resolve_node
from app.api.graphql.core.scalars import SCALAR_MAP
from app.api.graphql.counter.device import PosDeviceQuery
from app.api.graphql.counter.mutations import CounterMutation
from app.api.graphql.counter.queries import CounterQuery
from app.api.graphql.discovery.resolvers import DiscoveryMutation, DiscoveryQuery
from app.api.graphql.exports.resolvers import ExportMutation, ExportQuery
from app.api.graphql.live.resolvers import LiveSubscription
from app.api.graphql.mall.resolvers import MallMutation, MallQuery
from app.api.graphql.merchants.resolvers import MerchantMutation, MerchantQuery
from app.api.graphql.orders.resolvers import OrderMutation, OrderQuery
from app.api.graphql.partners.resolvers import PartnerMutation, PartnerQuery
from app.api.graphql.payments.resolvers import PaymentMutation, PaymentQuery
from app.api.graphql.referrals.resolvers import ReferralMutation, ReferralQuery
from app.api.graphql.regions.resolvers import RegionQuery
from app.api.graphql.releases.resolvers import ReleaseQuery
from app.api.graphql.reviews.resolvers import ReviewMutation, ReviewQuery
from app.api.graphql.runtime.execution import PlainCompletion
from app.api.graphql.runtime.merging import merge_conflicts
from app.api.graphql.runtime.selection import core_schema
from app.api.graphql.users.resolvers import AuthMutation, AuthQuery
from app.api.graphql.webhooks.resolvers import WebhookMutation, WebhookQuery
from app.domain.principals import PartnerPrincipal
from app.infra.config import Settings, get_settings


@strawberry.type
class NodeQuery:
    @strawberry.field
    async def node(
        self,
        info: Info,
        id: Annotated[InputID, strawberry.argument(description="The ID of the object.")],
    ) -> relay.Node | None:
        return await resolve_node(info, id)


QUERIES: list[type] = [
    NodeQuery,
    AuthQuery,
    MerchantQuery,
    OrderQuery,
    DiscoveryQuery,
    ReleaseQuery,
    PaymentQuery,
    AgentQuery,
    CounterQuery,
    PosDeviceQuery,
    MallQuery,
    ReviewQuery,
    ReferralQuery,
    RegionQuery,
    AuditQuery,
    PartnerQuery,
    WebhookQuery,
    ExportQuery,
]
MUTATIONS: list[type] = [
    AuthMutation,
    MerchantMutation,
    OrderMutation,
    DiscoveryMutation,
    PaymentMutation,
    CounterMutation,
    MallMutation,
    ReviewMutation,
    ReferralMutation,
    AgentMutation,
    PartnerMutation,
    WebhookMutation,
    ExportMutation,
]

SUBSCRIPTIONS: list[type] = [LiveSubscription]

Query = merge_types("Query", tuple(QUERIES))
Mutation = merge_types("Mutation", tuple(MUTATIONS))
Subscription = merge_types("Subscription", tuple(SUBSCRIPTIONS))


class Schema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        # ErrorShaping logs what is unexpected, once, with the request id.
        return None

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        """Operations over a WebSocket (the only caller of this: no HTTP streaming
        transport is enabled) are subscriptions only: queries and mutations go over
        HTTP, where each request is budgeted and sized."""
        if kwargs.get("allowed_operation_types") is None:
            kwargs["allowed_operation_types"] = (OperationType.SUBSCRIPTION,)
        return super().stream(*args, **kwargs)


@functools.cache
def _rules(standard: tuple[Any, ...], prod: bool) -> tuple[Any, ...]:
    """The validation rules, built once: the same rule classes on every request let the
    validation cache recognise a query it has already validated. The standard rule for
    fields sharing a name is quadratic in them; its linear equal runs beside validation
    (app/api/graphql/runtime/merging.py). Depth and aliases are the cost rule's
    (app/api/graphql/core/cost.py), which runs before any of these."""
    rules = [r for r in standard if r is not OverlappingFieldsCanBeMergedRule]
    if prod:
        rules += DisableIntrospection().validation_rules
    return tuple(rules)


_parse = functools.lru_cache(maxsize=512)(parse)


class RequestGuards(ErrorShaping):
    """Token, cost and introspection limits from the live settings, with parsed, costed
    and validated documents cached, and the error shaping around it all: Strawberry's
    MaxTokensLimiter, ParserCache, AddValidationRules and ValidationCache and our
    ErrorShaping in one extension, as Strawberry sets up every extension's hooks on
    every request.

    Validation results are kept by the document's identity and the rules, not by
    hashing the whole syntax tree (what ValidationCache's LRU key does on every
    request): the parse cache hands the same document object to every request of the
    same query (and token limit). An entry holds its document, so the id stays its own.
    A document's cost is kept the same way, by the document and the values of the
    variables it depends on (page sizes); it is measured before validation, so a
    document whose expansion is huge is refused before any rule walks it.
    """

    _validated: ClassVar[dict[tuple[int, tuple[Any, ...]], tuple[Any, list[Any]]]] = {}
    _costs: ClassVar[
        dict[int, tuple[DocumentNode, DocumentCost, GraphQLError | None, dict[str, str]]]
    ] = {}
    _measured: ClassVar[dict[tuple[int, tuple[Any, ...]], tuple[DocumentNode, QueryCost]]] = {}
    MAX_VALIDATED = 512

    def on_operation(self) -> Iterator[None]:
        s = get_settings()
        ec = self.execution_context
        ec.parse_options["max_tokens"] = s.max_tokens  # before parsing
        ec.validation_rules = _rules(ec.validation_rules, s.app_env == "prod")
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
        measured = self._cost(document, ec.variables)
        keep_cost(ec.context, measured)
        s = get_settings()
        refusal = too_complex(measured, s.max_query_cost, s.max_query_depth) or (
            self._costs[id(document)][2]
            or variable_problem(ec.variables, self._costs[id(document)][3])
        )
        if refusal is not None:
            ec.pre_execution_errors = [refusal]
            return
        rules = ec.validation_rules
        key = (id(document), rules)
        hit = self._validated.get(key)
        if hit is not None and hit[0] is document:
            errors = hit[1]
        else:
            errors = validate_document(core_schema(ec.schema), document, rules)
            errors = errors or merge_conflicts(core_schema(ec.schema), document)
            if len(self._validated) >= self.MAX_VALIDATED:
                self._validated.clear()
            self._validated[key] = (document, errors)
        ec.pre_execution_errors = errors

    async def on_execute(self) -> AsyncIterator[None]:
        """A partner app's request is charged its cost before it runs; one its bucket
        cannot pay for is answered with the refusal instead (app/api/graphql/core/
        partner_budget.py)."""
        ec = self.execution_context
        principal = getattr(ec.context, "principal", None)
        if isinstance(principal, PartnerPrincipal):
            refusal = await partner_budget.charge(ec.context, principal)
            if refusal is not None:
                ec.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    async def get_results(self) -> dict[str, Any]:
        """`extensions.cost` on every answer to a partner app."""
        ec = self.execution_context
        principal = getattr(ec.context, "principal", None)
        if not isinstance(principal, PartnerPrincipal):
            return {}
        return {"cost": await partner_budget.settle(ec, principal)}

    def _cost(self, document: DocumentNode, variables: dict[str, Any] | None) -> QueryCost:
        hit = self._costs.get(id(document))
        if hit is not None and hit[0] is document:
            rule = hit[1]
        else:
            # a document's cost rule and the first of its literals that cannot be taken
            rule = DocumentCost(core_schema(self.execution_context.schema), document)
            if len(self._costs) >= self.MAX_VALIDATED:
                self._costs.clear()
            self._costs[id(document)] = (
                document,
                rule,
                literal_problem(document),
                variable_fields(document),
            )
        values = variables or {}
        key = (id(document), tuple(_hashable(values.get(n)) for n in rule.page_variables))
        known = self._measured.get(key)
        if known is not None and known[0] is document:
            return known[1]
        measured = rule.measure(variables)
        if len(self._measured) >= self.MAX_VALIDATED:
            self._measured.clear()
        self._measured[key] = (document, measured)
        return measured


def _hashable(value: Any) -> Any:
    """A page variable's value as part of a cache key: what the cost reads of it (an
    integer, or anything else, read as the cap)."""
    return value if type(value) is int else None


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


def make_schema(settings: Settings) -> Schema:
    """The schema; its plain objects completed by `PlainCompletion` with runtime shortcuts
    on, by graphql-core's own completion with RUNTIME_SHORTCUTS=0."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALAR_MAP, name_converter=CachedNameConverter()),
        execution_context_class=PlainCompletion if settings.runtime_shortcuts else None,
        extensions=[RequestGuards],
    )


schema = make_schema(get_settings())
