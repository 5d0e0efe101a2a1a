"""Fields that answer under one name can be merged: the standard rule, in linear time.

graphql-core's OverlappingFieldsCanBeMergedRule compares every pair of fields that share
a response name, recursively: 450 copies of `me { id }` (under 2 KB) take it seconds.
This checks the same two conditions of the specification (FieldsInSetCanMerge) the
way Adameit's "Overlapping fields can be merged fast" does, comparing each field of a
group with one representative, as both conditions are equivalences:

- same response shape: the same list/non-null wrapping and the same leaf type, for
  every field of the name (then the same for their merged selections);
- for fields whose parents can be the same object (the same object type, or either
  abstract): the same field and the same arguments (then the same within their merged
  selections).

It walks the document's expansion once per group it belongs to, which the cost rule
(app/api/graphql/core/cost.py) has bounded before this runs; a fragment spread twice in one
selection is collected once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    print_ast,
)

from app.api.graphql.core.cost import condition_type, field_definition

MAX_ERRORS = 20


class _Field(NamedTuple):
    parent: Any
    node: FieldNode
    definition: GraphQLField | None


def merge_conflicts(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    check = _Check(schema, document)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            fields = check.collect([(definition.selection_set, root)])
            check.shapes(fields)
            check.common_parents(fields)
    return check.errors


class _Check:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
        self.errors: list[GraphQLError] = []
        self.reported: set[tuple[int, int]] = set()
        self.arguments: dict[int, tuple[tuple[str, str], ...]] = {}

    def collect(self, sets: Iterable[tuple[SelectionSetNode, Any]]) -> dict[str, list[_Field]]:
        """The fields of the selection sets merged, by response name (fragments
        expanded, each fragment once)."""
        grouped: dict[str, list[_Field]] = {}
        seen: set[str] = set()
        pending = list(sets)
        while pending:
            selection_set, parent = pending.pop()
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    definition = field_definition(self.schema, parent, selection.name.value)
                    grouped.setdefault(key, []).append(_Field(parent, selection, definition))
                elif isinstance(selection, InlineFragmentNode):
                    inner = condition_type(self.schema, selection, parent)
                    pending.append((selection.selection_set, inner))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:
                        continue
                    seen.add(name)
                    inner = condition_type(self.schema, fragment, None)
                    pending.append((fragment.selection_set, inner))
        return grouped

    def inner(self, group: list[_Field]) -> dict[str, list[_Field]]:
        return self.collect(
            (f.node.selection_set, get_named_type(f.definition.type) if f.definition else None)
            for f in group
            if f.node.selection_set is not None
        )

    def shapes(self, fields: dict[str, list[_Field]]) -> None:
        for key, group in fields.items():
            typed = [f for f in group if f.definition is not None]
            if not typed:
                continue
            first = typed[0]
            conflict = next((f for f in typed[1:] if _shapes_differ(first, f)), None)
            if conflict is not None:
                assert first.definition and conflict.definition
                self.report(
                    key,
                    first,
                    conflict,
                    f"they return conflicting types '{first.definition.type}'"
                    f" and '{conflict.definition.type}'",
                )
                continue
            if len(self.errors) < MAX_ERRORS:
                self.shapes(self.inner(group))

    def common_parents(self, fields: dict[str, list[_Field]]) -> None:
        for key, group in fields.items():
            by_object: dict[Any, list[_Field]] = {}
            abstract: list[_Field] = []
            for f in group:
                if isinstance(f.parent, GraphQLObjectType):
                    by_object.setdefault(f.parent, []).append(f)
                else:
                    abstract.append(f)
            parts = [same + abstract for same in by_object.values()] if by_object else [abstract]
            for part in parts:
                if len(self.errors) >= MAX_ERRORS:
                    return
                if self.same_field(key, part):
                    self.common_parents(self.inner(part))

    def same_field(self, key: str, part: list[_Field]) -> bool:
        first = part[0]
        for f in part[1:]:
            if f.node.name.value != first.node.name.value:
                reason = f"'{first.node.name.value}' and '{f.node.name.value}' are different fields"
            elif self.argument_key(f.node) != self.argument_key(first.node):
                reason = "they have differing arguments"
            else:
                continue
            self.report(key, first, f, reason)
            return False
        return True

    def argument_key(self, node: FieldNode) -> tuple[tuple[str, str], ...]:
        known = self.arguments.get(id(node))
        if known is None:
            known = self.arguments[id(node)] = tuple(
                sorted((a.name.value, print_ast(a.value)) for a in node.arguments or ())
            )
        return known

    def report(self, key: str, a: _Field, b: _Field, reason: str) -> None:
        pair = (id(a.node), id(b.node))
        if pair in self.reported:
            return
        self.reported.add(pair)
        self.errors.append(
            GraphQLError(
                f"Fields '{key}' conflict because {reason}."
                " Use different aliases on the fields to fetch both if this was intentional.",
                [a.node, b.node],
            )
        )


def _shapes_differ(a: _Field, b: _Field) -> bool:
    assert a.definition is not None and b.definition is not None
    t1: Any = a.definition.type
    t2: Any = b.definition.type
    while True:
        if isinstance(t1, GraphQLList) or isinstance(t2, GraphQLList):
            if not (isinstance(t1, GraphQLList) and isinstance(t2, GraphQLList)):
                return True
        elif isinstance(t1, GraphQLNonNull) or isinstance(t2, GraphQLNonNull):
            if not (isinstance(t1, GraphQLNonNull) and isinstance(t2, GraphQLNonNull)):
                return True
        else:
            break
        t1, t2 = t1.of_type, t2.of_type
    if is_leaf_type(t1) or is_leaf_type(t2):
        return t1 is not t2
    return False
