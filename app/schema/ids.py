"""Global IDs: decoded once, with their type checked."""

from __future__ import annotations

import strawberry
from strawberry.relay import GlobalID

from app.errors import DomainError

# A Global ID as a client sends it (the same `ID` in the schema). Arguments and input
# fields take it as text and the resolver decodes it with `decode_id`, so a malformed
# one is the field's typed error (`INVALID`, the field's name), like one of the wrong
# type, instead of a coercion error before the resolver runs.
InputID = strawberry.ID


def decode_id(gid: GlobalID | str, expected: str, field: str) -> int:
    """The integer key behind a Global ID, refusing one of another type."""
    try:
        g = gid if isinstance(gid, GlobalID) else GlobalID.from_id(gid)
    except Exception:
        raise DomainError("INVALID", "not a valid ID", field) from None
    if g.type_name != expected:
        raise DomainError("INVALID", f"expected a {expected} ID, got a {g.type_name} ID", field)
    try:
        value = int(g.node_id)
    except ValueError:
        raise DomainError("INVALID", "not a valid ID", field) from None
    if value <= 0:
        raise DomainError("INVALID", "not a valid ID", field)
    return value


def encode_id(type_name: str, pk: int) -> GlobalID:
    return GlobalID(type_name, str(pk))
