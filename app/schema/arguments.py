"""Strawberry's conversion of a field's arguments, planned once per field.

On every call of a field with arguments Strawberry converts them from graphql-core's
values to Python ones (input objects to their classes) by walking each argument's type
afresh: ~50 us for the six arguments of `nearbyMerchants`, a few percent of its CPU.
For arguments whose types are scalars, enums, optionals of them and input objects made
of them (no `from_input`, no generics), the conversion is always the same steps, so
they are planned once per field and replayed: scalars and enums pass through (graphql-
core has already parsed them), null and UNSET stay as they are, an input object gets
its fields (null for the ones without a default that are absent) and is constructed.
Any other type (lists, GlobalID, Maybe, lazy or generic types, custom `from_input`)
leaves the whole field to Strawberry's own conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

from strawberry.relay import GlobalID
from strawberry.schema import schema_converter
from strawberry.types.arguments import StrawberryArgument, _is_leaf_type
from strawberry.types.arguments import convert_arguments as strawberry_convert_arguments
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

_Convert = Callable[[Any], Any]
# (graphql name, python name, converter) per argument
_Plan = list[tuple[str, str, _Convert]]
# id(arguments) -> (the arguments, config, registry, plan or None: Strawberry's own)
_PLANS: dict[int, tuple[Any, Any, Any, _Plan | None]] = {}


class _Unplanned(Exception):
    pass


def convert_arguments(
    value: dict[str, Any],
    arguments: list[StrawberryArgument],
    scalar_registry: Mapping[object, Any],
    config: Any,
    info: Any = None,
) -> dict[str, Any]:
    if not arguments:
        return {}
    hit = _PLANS.get(id(arguments))
    if hit is None or not (hit[0] is arguments and hit[1] is config and hit[2] is scalar_registry):
        hit = _PLANS[id(arguments)] = (
            arguments,  # (kept: the id stays this list's)
            config,
            scalar_registry,
            _plan(arguments, scalar_registry, config),
        )
    plan = hit[3]
    if plan is None:
        return strawberry_convert_arguments(value, arguments, scalar_registry, config, info)
    kwargs = {}
    for name, python_name, convert in plan:
        if name in value:
            kwargs[python_name] = convert(value[name])
    return kwargs


def _plan(
    arguments: list[StrawberryArgument], registry: Mapping[object, Any], config: Any
) -> _Plan | None:
    try:
        return [
            (
                config.name_converter.from_argument(a),
                a.python_name,
                _converter(a.type, registry, config),
            )
            for a in arguments
        ]
    except _Unplanned:
        return None


def _same(value: Any) -> Any:
    return value


def _converter(t: Any, registry: Mapping[object, Any], config: Any) -> _Convert:
    if isinstance(t, StrawberryMaybe | StrawberryList) or t is GlobalID:
        raise _Unplanned
    if isinstance(t, StrawberryOptional):
        return _converter(t.of_type, registry, config)  # (null and UNSET pass anyway)
    if isinstance(t, LazyType):
        raise _Unplanned
    if _is_leaf_type(t, registry) or has_enum_definition(t):
        return _same
    if has_object_definition(t):
        d = t.__strawberry_definition__
        if d.from_input is not None or not d.is_input or d.type_params:
            raise _Unplanned
        fields = [
            (
                config.name_converter.from_field(f),
                f.python_name,
                _converter(f.resolve_type(type_definition=d), registry, config),
            )
            for f in d.fields
        ]
        absent_null = [
            f.python_name
            for f in d.fields
            if f.default_value is MISSING and f.default_factory is MISSING
        ]

        def build(value: Any) -> Any:
            if value is None or value is UNSET:
                return value
            kwargs = dict.fromkeys(absent_null)
            for name, python_name, convert in fields:
                if name in value:
                    kwargs[python_name] = convert(value[name])
            return t(**kwargs)

        return build
    raise _Unplanned


def install() -> None:
    """Strawberry's field resolvers convert through this module's `convert_arguments`."""
    schema_converter.convert_arguments = convert_arguments  # type: ignore[assignment]
