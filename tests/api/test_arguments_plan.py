"""Planned argument conversion (app.schema.arguments) gives what Strawberry's own gives,
for every field of the schema that has arguments."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from strawberry.relay import GlobalID
from strawberry.types.arguments import convert_arguments as strawberry_convert_arguments

from app.schema import arguments
from app.schema.root import schema


def _sample(t: Any, full: bool) -> Any:
    """A value graphql-core could hand a resolver for type `t`: every input field given
    (`full`), or only the required ones."""
    if isinstance(t, GraphQLNonNull):
        return _sample(t.of_type, full)
    if isinstance(t, GraphQLList):
        return [_sample(t.of_type, full)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values.values())).value
    if isinstance(t, GraphQLInputObjectType):
        return {
            name: _sample(f.type, full)
            for name, f in t.fields.items()
            if full or isinstance(f.type, GraphQLNonNull)
        }
    assert isinstance(t, GraphQLScalarType)
    gid = str(GlobalID("Merchant", "1"))
    return {"Int": 7, "Float": 1.5, "Boolean": True, "ID": gid, "GlobalID": gid}.get(t.name, "x")


def _fields() -> list[tuple[str, str, Any, Any]]:
    out = []
    for type_name, gql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not hasattr(gql_type, "fields"):
            continue
        if isinstance(gql_type, GraphQLInputObjectType):
            continue
        for name, field in gql_type.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if field.args and definition is not None and definition.arguments:
                out.append((type_name, name, field, definition))
    return out


FIELDS = _fields()


def test_most_fields_are_planned_and_nearby_is():
    planned = {
        f"{t}.{n}"
        for t, n, _, d in FIELDS
        if arguments._plan(d.arguments, schema.schema_converter.scalar_registry, schema.config)
        is not None
    }
    assert "Query.nearbyMerchants" in planned
    assert len(planned) >= len(FIELDS) // 2


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize(("type_name", "name", "field", "definition"), FIELDS)
def test_planned_conversion_is_strawberrys(type_name, name, field, definition, full):
    reg, config = schema.schema_converter.scalar_registry, schema.config
    cases = [
        {n: _sample(a.type, full) for n, a in field.args.items()},
        # nullable arguments given as null, and all of them absent
        {
            n: (None if not isinstance(a.type, GraphQLNonNull) else _sample(a.type, full))
            for n, a in field.args.items()
        },
        {},
    ]
    for values in cases:
        want = _outcome(strawberry_convert_arguments, values, definition, reg, config)
        got = _outcome(arguments.convert_arguments, values, definition, reg, config)
        assert got == want, (type_name, name, values)


def _outcome(convert: Any, values: dict[str, Any], definition: Any, reg: Any, config: Any) -> Any:
    """The converted arguments with their types, or the error raised."""
    try:
        out = convert(dict(values), definition.arguments, reg, config)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return ("raised", type(exc), str(exc))
    return out, [type(v) for v in out.values()]
