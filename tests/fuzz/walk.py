"""Every argument of the running schema, by introspection: for each root field, one
request whose arguments all hold working values (the seeded rows, a real POS serial and
secret, today's dates), and the list of its text-like leaves (String, ID and custom
scalars, inside input objects and lists too) into which a hostile value is put, one
leaf at a time, so the value reaches the code behind every earlier check."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx

from tests.fuzz.world import World

# Leaf kinds that carry text in a request (the built-in String and ID and the custom
# scalars, all sent as JSON strings or numbers).
TEXT_KINDS = frozenset({"String", "ID", "Date", "DateTime", "Decimal", "Int64", "JSON"})

# Mutations that change the seeded rows every later request relies on: run last.
LAST = ("suspendMerchant", "closeMerchant")

_ID_TYPES = {
    "merchantId": "Merchant",
    "orderId": "Order",
    "lotId": "PointLot",
    "userId": "User",
    "recruiterId": "User",
    "agentId": "Agent",
}
_INTS = {
    "amountFen": 1000,
    "voucherFen": 0,
    "first": 5,
    "discountBps": 1000,
    "radiusM": 2000,
    "hours": 1,
    "points": 100,
    "resolution": 7,
    "priority": 100,
    "growthBps": 100,
}
_FLOATS = {"south": 31.2, "west": 121.4, "north": 31.3, "east": 121.6}
_NULL_BY_DEFAULT = {"after", "until"}


@dataclass(frozen=True)
class Leaf:
    path: tuple[str | int, ...]  # variable name, then input fields / list indexes
    kind: str

    def label(self) -> str:
        return ".".join(str(p) for p in self.path)


@dataclass
class Operation:
    root: str  # Query | Mutation
    field: str
    document: str
    base: dict[str, Any]
    leaves: list[Leaf]

    def where(self, leaf: Leaf | None) -> str:
        return f"{self.root}.{self.field}({leaf.label() if leaf else ''})"

    def working(self, leaf: Leaf) -> Any:
        """The leaf's working value (None where it has none)."""
        value: Any = self.base
        for step in leaf.path:
            value = value[step] if value is not None else None
        return value

    def body(self, leaf: Leaf | None = None, value: object = None) -> str:
        """The request body, JSON text with non-ASCII escaped (ensure_ascii): a lone
        surrogate goes as its `\\ud800` escape, as a client would have to send it."""
        variables = copy.deepcopy(self.base)
        if leaf is not None:
            target: Any = variables
            for step in leaf.path[:-1]:
                target = target[step]
            target[leaf.path[-1]] = value
        return json.dumps({"query": self.document, "variables": variables})


def introspect(base_url: str, headers: dict[str, str]) -> graphql.GraphQLSchema:
    resp = httpx.post(
        f"{base_url}/graphql",
        json={"query": graphql.get_introspection_query()},
        headers=headers,
        timeout=30,
    )
    resp.raise_for_status()
    return graphql.build_client_schema(resp.json()["data"])


def operations(schema: graphql.GraphQLSchema, world: World) -> list[Operation]:
    found = []
    for root in (schema.query_type, schema.mutation_type):
        if root is None:
            continue
        names = sorted(root.fields, key=lambda n: (n in LAST, LAST.index(n) if n in LAST else 0))
        for name in names:
            found.append(_operation(root, name, root.fields[name], world))
    return found


def _operation(
    root: graphql.GraphQLObjectType, name: str, field: graphql.GraphQLField, world: World
) -> Operation:
    keyword = "mutation" if root.name == "Mutation" else "query"
    declared = ", ".join(f"${a}: {t.type}" for a, t in field.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in field.args)
    head = f"{keyword} Fuzz({declared})" if declared else f"{keyword} Fuzz"
    call = f"{name}({passed})" if passed else name
    selection = _selection(field.type, depth=3)
    document = f"{head} {{ {call}{f' {{ {selection} }}' if selection else ''} }}"
    base: dict[str, Any] = {}
    leaves: list[Leaf] = []
    for arg, spec in field.args.items():
        base[arg] = _working_value(spec.type, arg, name, world)
        leaves += _leaves(spec.type, (arg,))
    return Operation(root.name, name, document, base, leaves)


def _selection(type_: graphql.GraphQLOutputType, depth: int) -> str:
    named = graphql.get_named_type(type_)
    if isinstance(named, graphql.GraphQLUnionType):
        parts = [f"... on {m.name} {{ {_selection(m, depth)} }}" for m in named.types]
        return "__typename " + " ".join(parts)
    if isinstance(named, graphql.GraphQLInterfaceType):
        return "__typename id" if "id" in named.fields else "__typename"
    if not isinstance(named, graphql.GraphQLObjectType):
        return ""
    parts = []
    for fname, f in named.fields.items():
        if any(graphql.is_required_argument(a) for a in f.args.values()):
            continue
        inner = graphql.get_named_type(f.type)
        if isinstance(inner, graphql.GraphQLScalarType | graphql.GraphQLEnumType):
            parts.append(fname)
        elif depth > 0:
            parts.append(f"{fname} {{ {_selection(f.type, depth - 1)} }}")
    return " ".join(parts) or "__typename"


def _working_value(
    type_: graphql.GraphQLInputType, name: str, field_name: str, world: World
) -> Any:
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    t = graphql.get_nullable_type(type_)
    if nullable and name in _NULL_BY_DEFAULT:
        return None
    if isinstance(t, graphql.GraphQLList):
        return [_working_value(t.of_type, name, field_name, world)]
    if isinstance(t, graphql.GraphQLInputObjectType):
        return {
            fname: _working_value(f.type, fname, field_name, world) for fname, f in t.fields.items()
        }
    if isinstance(t, graphql.GraphQLEnumType):
        values = list(t.values)
        return "GCJ02" if "GCJ02" in values else values[0]
    return _working_scalar(t.name, name, field_name, world)


def _working_scalar(scalar: str, name: str, field_name: str, world: World) -> Any:
    today = datetime.now(UTC).date()
    if scalar == "ID":
        kind = _ID_TYPES.get(name) or ("Order" if "rder" in field_name else "Merchant")
        return world.ids()[kind]
    if scalar == "Int":
        return _INTS.get(name, 1)
    if scalar == "Float":
        return _FLOATS.get(name, 0.0)
    if scalar == "Boolean":
        return True
    if scalar == "Decimal":
        return {"lat": "31.2304", "lng": "121.4737"}.get(name, "1")
    if scalar == "Date":
        return (today - timedelta(days=30) if name == "from" else today).isoformat()
    if scalar == "DateTime":
        return (datetime.now(UTC) - timedelta(days=1)).isoformat()
    if scalar == "Int64":
        return 1
    if scalar == "JSON":
        return {}
    return {
        "phone": "13800009999",
        "regionCode": "310101",
        "month": today.strftime("%Y-%m"),
        "channel": "sandbox",
        "status": "approved",
        "name": "Fuzz Shop",
        "category": "food",
        "address": "1 Fuzz Road",
        "serial": world.pos_serial,
        "secret": world.pos_secret,
        "qr": world.bind_qr,
        "providerMerchantId": "fuzz-sub-1",
    }.get(name, f"fuzz-{name}")


def _leaves(type_: graphql.GraphQLInputType, path: tuple) -> list[Leaf]:
    t = graphql.get_nullable_type(type_)
    if isinstance(t, graphql.GraphQLList):
        return _leaves(t.of_type, (*path, 0))
    if isinstance(t, graphql.GraphQLInputObjectType):
        return [leaf for f, spec in t.fields.items() for leaf in _leaves(spec.type, (*path, f))]
    if isinstance(t, graphql.GraphQLScalarType) and t.name in TEXT_KINDS:
        return [Leaf(path, t.name)]
    return []
