"""A faster completion of plain objects, for every query of the schema.

graphql-core completes each field of each object on its own: it builds a resolve-info
record and a path, wraps the resolver, calls Strawberry's attribute getter, checks for
awaitables, then walks the type (non-null, list, leaf) and coerces the value: some ten
microseconds per field. A page of 20 results with six fields each is ~160 such fields.

When every selected field of an object type is a *plain* Strawberry field (no resolver,
no field extension or permission, no arguments, no directives) whose type is a scalar,
an enum, or a list of / an object of the same plain kind, the result is the same as
reading the attributes and coercing the leaves. `PlainCompletion` does exactly that, in
one pass planned once per request and selection. Anything else (a resolver, an
abstract type, @defer/@stream, middleware such as a field-level extension) takes
graphql-core's own path.

Errors keep graphql-core's exact shape: the fast pass has no side effects (attribute
reads and scalar coercion), so on the first surprise (a null in a non-null field, a
value a scalar refuses, an unexpected type) it gives up and the object is completed
again by graphql-core, which raises or records the error with its path and locations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from math import isfinite
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.type.scalars import (
    GRAPHQL_MAX_INT as _MAX_INT,
)
from graphql.type.scalars import (
    GRAPHQL_MIN_INT as _MIN_INT,
)
from graphql.type.scalars import (
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.relay import GlobalID
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


class _GiveUp(Exception):
    """The fast pass met something it does not complete itself."""


# A planned field: (response name, attribute name, non-null, completer)
# where completer(value) -> completed value, or raises _GiveUp.
_Field = tuple[str, str | None, bool, Callable[[Any], Any]]
_NOT_PLAIN = object()
# Plans shared across requests: (type, field node ids) -> (the nodes, the plan)
_SHARED: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
_SHARED_MAX = 4096


def _leaf(t: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    coerce = t.coerce_output_value

    def slow(value: Any) -> Any:
        if isinstance(value, Exception):  # graphql-core raises it: its path
            raise _GiveUp
        try:
            out = coerce(value)
        except Exception:
            raise _GiveUp from None
        if out is None or out is Undefined:
            raise _GiveUp
        return out

    # graphql-core's own serializers return these values unchanged: skip the call
    if coerce is serialize_float:

        def complete_float(value: Any) -> Any:
            if type(value) is float and isfinite(value):
                return value
            return slow(value)

        return complete_float
    if coerce is serialize_int:

        def complete_int(value: Any) -> Any:
            if type(value) is int and _MIN_INT <= value <= _MAX_INT:
                return value
            return slow(value)

        return complete_int
    if coerce is serialize_id:

        def complete_id(value: Any) -> Any:
            if type(value) is str:
                return value
            if type(value) is GlobalID:
                return _global_id_text(value)  # what serialize_id returns: str(value)
            return slow(value)

        return complete_id
    if coerce is serialize_string:

        def complete_str(value: Any) -> Any:
            return value if type(value) is str else slow(value)

        return complete_str
    if coerce is serialize_boolean:

        def complete_bool(value: Any) -> Any:
            return value if type(value) is bool else slow(value)

        return complete_bool
    return slow


# GlobalIDs are immutable: their base64 text is kept (the same results come back often)
_global_id_text = functools.lru_cache(maxsize=65536)(GlobalID.__str__)


def _list(item: Callable[[Any], Any], item_non_null: bool) -> Callable[[Any], Any]:
    def complete(value: Any) -> Any:
        if type(value) is not list and type(value) is not tuple:
            raise _GiveUp  # generators, async iterables...: graphql-core's path
        out: list[Any] = []
        for v in value:
            if v is None:
                if item_non_null:
                    raise _GiveUp
                out.append(None)
            else:
                out.append(item(v))
        return out

    return complete


def _object(plan: list[_Field], type_check: Callable[[Any], bool] | None) -> Callable[[Any], Any]:
    def complete(value: Any) -> Any:
        if isinstance(value, Exception) or (type_check is not None and not type_check(value)):
            raise _GiveUp
        return _run(plan, value)

    return complete


def _run(plan: list[_Field], source: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for response_name, attr, non_null, complete in plan:
        if attr is None:  # __typename
            data[response_name] = complete(source)
            continue
        value = getattr(source, attr, Undefined)
        # (an Exception as a value: each completer gives up on it, as graphql-core raises it)
        if value is None or value is Undefined:
            if non_null or value is not None:
                raise _GiveUp
            data[response_name] = None
        else:
            data[response_name] = complete(value)
    return data


class PlainCompletion(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], Any] = {}
        self._directive_free: bool | None = None

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if position_context is None and not self._has_middleware():
            plan = self._plan(return_type, field_details_list)
            if plan is not _NOT_PLAIN:
                try:
                    if (
                        return_type.is_type_of is None
                        or return_type.is_type_of(result, info) is True
                    ):
                        return _run(plan, result)
                except _GiveUp:
                    pass
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _has_middleware(self) -> bool:
        m = self.middleware_manager
        return m is not None and bool(m.middlewares)

    def _plan(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        key = (return_type, id(field_details_list))
        plan = self._plans.get(key)
        if plan is None:
            shared_key = self._shared_key(return_type, field_details_list)
            hit = _SHARED.get(shared_key) if shared_key is not None else None
            if hit is not None:
                plan = hit[1]
            else:
                try:
                    plan = self._make_plan(return_type, field_details_list)
                except _GiveUp:
                    plan = _NOT_PLAIN
                if shared_key is not None:
                    if len(_SHARED) >= _SHARED_MAX:
                        _SHARED.clear()
                    nodes = tuple(d.node for d in field_details_list)
                    _SHARED[shared_key] = (nodes, plan)  # the nodes stay alive: ids stay theirs
            # collect_subfields keeps field_details_list alive for the whole execution
            self._plans[key] = plan
        return plan

    def _shared_key(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """A key valid across requests, or None. The parser cache hands every request of
        the same query the same syntax tree, and without directives (@include, @skip,
        @defer...) which fields are collected depends on that tree alone, not on the
        variables: then a plan made for these nodes holds for every request."""
        if self._directive_free is None:
            loc = self.operation.loc
            self._directive_free = loc is not None and "@" not in loc.source.body
        if not self._directive_free:
            return None
        return (return_type, *(id(d.node) for d in field_details_list))

    def _make_plan(self, return_type: GraphQLObjectType, field_details_list: Any) -> list[_Field]:
        grouped, defer_usages, _ = self.collect_subfields(return_type, field_details_list)
        if defer_usages:
            raise _GiveUp
        plan: list[_Field] = []
        for response_name, sub_details in grouped.items():
            if any(
                d.defer_usage is not None or d.fragment_variable_values or d.node.directives
                for d in sub_details
            ):
                raise _GiveUp
            node = sub_details[0].node
            name = node.name.value
            if name == "__typename":
                type_name = return_type.name
                plan.append((response_name, None, True, _constant(type_name)))
                continue
            field_def = self.schema.get_field(return_type, name)
            if field_def is None or field_def.args or node.arguments:
                raise _GiveUp
            definition = field_def.extensions.get(_BACKREF)
            resolve = field_def.resolve
            if (
                definition is None
                or getattr(resolve, "__name__", "") != "_get_basic_result"
                or not definition.is_basic_field
                or definition.default_resolver is not getattr
            ):
                raise _GiveUp
            non_null, complete = self._completer(field_def.type, sub_details)
            plan.append((response_name, definition.python_name, non_null, complete))
        return plan

    def _completer(self, t: Any, sub_details: Any) -> tuple[bool, Callable[[Any], Any]]:
        non_null = isinstance(t, GraphQLNonNull)
        if non_null:
            t = t.of_type
        if isinstance(t, GraphQLScalarType | GraphQLEnumType):
            return non_null, _leaf(t)
        if isinstance(t, GraphQLList):
            item_non_null, item = self._completer(t.of_type, sub_details)
            return non_null, _list(item, item_non_null)
        if isinstance(t, GraphQLObjectType):
            check = t.is_type_of
            if check is not None and not _is_strawberry_type_check(check):
                raise _GiveUp  # a custom check may want the resolve info
            plan = self._plan(t, sub_details)
            if plan is _NOT_PLAIN:
                raise _GiveUp
            return non_null, _object(plan, _type_check(check) if check else None)
        raise _GiveUp  # interfaces and unions: graphql-core resolves the runtime type


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _source: value


def _type_check(check: Callable[[Any, Any], Any]) -> Callable[[Any], bool]:
    return lambda value: check(value, None) is True


def _is_strawberry_type_check(fn: Callable[..., Any]) -> bool:
    """Strawberry's own is_type_of (isinstance against the type's classes, info unused)."""
    return getattr(fn, "__qualname__", "").startswith("GraphQLCoreConverter.from_object.")
