"""Global IDs: decoded once, with their type checked."""

from __future__ import annotations

from strawberry.relay import GlobalID

from app.errors import DomainError


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
