"""Global IDs: decoded once, with their type and key checked."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.relay import GlobalID
from strawberry.types import Info

from app.infra.errors import DomainError
from app.infra.inputs import ASCII_DIGITS

# A Global ID as a client sends it (the same `ID` in the schema). Arguments and input
# fields take it as text and the resolver decodes it with `decode_id`, so a malformed
# one is the field's typed error (`INVALID`, the field's name), like one of the wrong
# type, instead of a coercion error before the resolver runs.
InputID = strawberry.ID

# Keys are PostgreSQL bigints (serial ids from 1).
MAX_KEY = 2**63 - 1


def parse_global_id(gid: GlobalID | str, field: str) -> tuple[str, int]:
    """The type name and integer key of a Global ID: ASCII digits, 1..2^63-1."""
    try:
        g = gid if isinstance(gid, GlobalID) else GlobalID.from_id(gid)
    except Exception:
        raise DomainError("INVALID", "not a valid ID", field) from None
    key = g.node_id
    if not ASCII_DIGITS.fullmatch(key) or not 1 <= int(key) <= MAX_KEY:
        raise DomainError("INVALID", "not a valid ID", field)
    return g.type_name, int(key)


def decode_id(gid: GlobalID | str, expected: str, field: str) -> int:
    """The integer key behind a Global ID, refusing one of another type."""
    type_name, key = parse_global_id(gid, field)
    if type_name != expected:
        raise DomainError("INVALID", f"expected a {expected} ID, got a {type_name} ID", field)
    return key


def encode_id(type_name: str, pk: int) -> GlobalID:
    return GlobalID(type_name, str(pk))


async def resolve_node(info: Info, gid: str, field: str = "id") -> relay.Node | None:
    """The object a Global ID names, through its type's own `resolve_nodes`; a type that
    is not a Node of this schema is `INVALID` like any malformed ID."""
    type_name, key = parse_global_id(gid, field)
    definition = info.schema.get_type_by_name(type_name)
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, relay.Node)):
        raise DomainError("INVALID", f"{type_name} is not a type of this API", field)
    return await GlobalID(type_name, str(key)).resolve_node(info, required=False)
