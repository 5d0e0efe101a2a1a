"""What a document costs to answer, measured before anything else looks at it.

One pass over the document, each fragment measured once (kept by name for the pass; a
fragment cycle counts nothing, validation refuses it after), so the time the pass takes
grows with the document's size, never with its expansion: a document of thirty
fragments each spreading the next twice is thirty fragments to measure, not 2^30 fields.

The cost: every field selected counts 1; a field with a page argument (`first` or
`last`) multiplies what it contains by the page it asks for (the page cap when the
argument is absent, null, a variable not given, or more than the cap), so many aliases
of a paged field cost what they will fetch. Introspection fields count 1 each and are
not part of the depth (as Strawberry's depth limiter did). The cost is a pure function
of the document and the values of the page variables: `DocumentCost.measure` is cached
per document by its caller, and what it answers is kept on the request's context
(`query_cost(context)`) for budgets charged later.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

from app.api.graphql.core.pagination import MAX_PAGE

PAGE_ARGUMENTS = ("first", "last")
# Above this the figure stops growing (a refused document's cost needs no more digits,
# and the extensions stay a JSON number any client reads exactly).
SATURATED = 2**53


@dataclass(frozen=True, slots=True)
class QueryCost:
    cost: int
    depth: int


def field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType | None, name: str
) -> GraphQLField | None:
    """The field's definition on its parent type, introspection fields included; None
    for a field the type does not have (validation reports it)."""
    if name == "__typename":
        return TypeNameMetaFieldDef
    if parent is schema.query_type:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None


def condition_type(
    schema: GraphQLSchema, node: InlineFragmentNode | FragmentDefinitionNode, parent: Any
) -> GraphQLNamedType | None:
    if node.type_condition is None:
        return parent
    return schema.type_map.get(node.type_condition.name.value)


class DocumentCost:
    """One parsed document's cost rule: which variables it depends on, and its cost
    for given values of them."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.operations: list[OperationDefinitionNode] = []
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                self.operations.append(definition)
            elif isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
        names: set[str] = set()
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                _page_variables(definition.selection_set, names)
        self.page_variables: tuple[str, ...] = tuple(sorted(names))

    def measure(self, variables: dict[str, Any] | None) -> QueryCost:
        """The costliest operation's cost and depth (a document is refused whole, whichever
        of its operations is asked for)."""
        pass_ = _Pass(self, variables or {})
        cost = depth = 0
        for operation in self.operations:
            root = self.schema.get_root_type(operation.operation)
            c, d = pass_.selections(operation.selection_set, root)
            cost, depth = max(cost, c), max(depth, d)
        return QueryCost(min(cost, SATURATED), depth)


class _Pass:
    def __init__(self, rule: DocumentCost, variables: dict[str, Any]) -> None:
        self.rule = rule
        self.variables = variables
        self.measured: dict[str, tuple[int, int]] = {}

    def selections(self, selection_set: SelectionSetNode, parent: Any) -> tuple[int, int]:
        schema = self.rule.schema
        cost = depth = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if selection.selection_set is None:
                    cost += 1
                    continue
                definition = field_definition(schema, parent, name)
                inner = get_named_type(definition.type) if definition is not None else None
                c, d = self.selections(selection.selection_set, inner)
                cost += 1 + self.page(selection, definition) * c
                if not name.startswith("__"):
                    depth = max(depth, 1 + d)
            elif isinstance(selection, InlineFragmentNode):
                c, d = self.selections(
                    selection.selection_set, condition_type(schema, selection, parent)
                )
                cost, depth = cost + c, max(depth, d)
            elif isinstance(selection, FragmentSpreadNode):
                c, d = self.fragment(selection.name.value)
                cost, depth = cost + c, max(depth, d)
            cost = min(cost, SATURATED)
        return cost, depth

    def fragment(self, name: str) -> tuple[int, int]:
        known = self.measured.get(name)
        if known is not None:
            return known
        definition = self.rule.fragments.get(name)
        self.measured[name] = (0, 0)  # a spread of a fragment being measured: a cycle
        if definition is None:
            return 0, 0
        parent = condition_type(self.rule.schema, definition, None)
        known = self.measured[name] = self.selections(definition.selection_set, parent)
        return known

    def page(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """What the field multiplies its contents by: the page it asks for."""
        if definition is None or not any(a in definition.args for a in PAGE_ARGUMENTS):
            return 1
        page = MAX_PAGE
        for argument in node.arguments or ():
            if argument.name.value not in PAGE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                asked: Any = int(value.value)
            elif isinstance(value, VariableNode):
                asked = self.variables.get(value.name.value)
            else:
                asked = None
            page = min(max(asked, 1), MAX_PAGE) if type(asked) is int else MAX_PAGE
        return page


def _page_variables(selection_set: SelectionSetNode | None, names: set[str]) -> None:
    """The variables given to page arguments anywhere in the document: the only
    variables a cost depends on (each selection set is its own node: a linear walk)."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                if argument.name.value in PAGE_ARGUMENTS and isinstance(
                    argument.value, VariableNode
                ):
                    names.add(argument.value.name.value)
            _page_variables(selection.selection_set, names)
        elif isinstance(selection, InlineFragmentNode):
            _page_variables(selection.selection_set, names)


def too_complex(measured: QueryCost, max_cost: int, max_depth: int) -> GraphQLError | None:
    """The typed refusal of a document above the limits, or None."""
    if measured.cost > max_cost:
        message = f"query cost {measured.cost} exceeds the limit of {max_cost}"
    elif measured.depth > max_depth:
        message = f"query depth {measured.depth} exceeds maximum operation depth of {max_depth}"
    else:
        return None
    return GraphQLError(
        message,
        extensions={
            "code": "QUERY_TOO_COMPLEX",
            "field": None,
            "cost": measured.cost,
            "limit": max_cost,
            "depth": measured.depth,
            "maxDepth": max_depth,
        },
    )


_ATTRIBUTE = "query_cost"


def keep_cost(context: Any, measured: QueryCost) -> None:
    """Keep the request's measured cost on its context (what budgets will charge)."""
    if context is not None:
        setattr(context, _ATTRIBUTE, measured)


def query_cost(context: Any) -> QueryCost | None:
    """The cost measured for the request whose context this is."""
    cost = getattr(context, _ATTRIBUTE, None)
    return cost if isinstance(cost, QueryCost) else None


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    data: dict[str, Any],
    variables: dict[str, Any] | None = None,
) -> int:
    """What an executed operation cost, read off its result with the same rule: a page
    multiplies by the items it returned rather than those it asked for, a field that
    resolved to null counts 1 whatever it selects, and of a list the costliest item
    counts (as the measure counts each selection once). Never more than the measure."""
    rule = DocumentCost(schema, document)
    operations = [
        o
        for o in rule.operations
        if operation_name is None or (o.name is not None and o.name.value == operation_name)
    ]
    if len(operations) != 1:
        return 0
    operation = operations[0]
    walk = _Actual(rule, _Pass(rule, variables or {}))
    return min(
        walk.selections(operation.selection_set, schema.get_root_type(operation.operation), data),
        SATURATED,
    )


class _Actual:
    def __init__(self, rule: DocumentCost, measure: _Pass) -> None:
        self.rule = rule
        self.measure = measure
        self.spreading: set[str] = set()

    def selections(self, selection_set: SelectionSetNode, parent: Any, value: dict) -> int:
        schema = self.rule.schema
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                if key not in value:  # not resolved (an error above it, @skip, a type condition)
                    continue
                if selection.selection_set is None:
                    cost += 1
                    continue
                inner_value = value[key]
                definition = field_definition(schema, parent, selection.name.value)
                inner = get_named_type(definition.type) if definition is not None else None
                objects = list(_objects(inner_value))
                contents = max(
                    (self.selections(selection.selection_set, inner, o) for o in objects),
                    default=0,
                )
                page = self.measure.page(selection, definition)
                paged = definition is not None and any(a in definition.args for a in PAGE_ARGUMENTS)
                cost += 1 + (min(_items(inner_value), page) if paged else 1) * contents
            elif isinstance(selection, InlineFragmentNode):
                cost += self.selections(
                    selection.selection_set, condition_type(schema, selection, parent), value
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.rule.fragments.get(name)
                if fragment is None or name in self.spreading:
                    continue
                self.spreading.add(name)
                cost += self.selections(
                    fragment.selection_set, condition_type(schema, fragment, None), value
                )
                self.spreading.discard(name)
        return cost


def _objects(value: Any) -> Iterator[dict]:
    """The result objects a value holds (itself, or a list's, however nested)."""
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _items(value: Any) -> int:
    """How many items a paged field returned: its list's length, or a connection's
    (the longest list among its own fields: `edges`, `nodes`)."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return max((len(v) for v in value.values() if isinstance(v, list)), default=1)
    return 0
