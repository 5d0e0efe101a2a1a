"""Shared scalars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NewType

import strawberry

# Sums of fen / centi-points can pass 2^31 (GraphQL Int): an exact integer, as a JSON
# number (exact in JavaScript up to 2^53).
if TYPE_CHECKING:
    Int64 = int  # to the type checker, a plain int
else:
    Int64 = NewType("Int64", int)

SCALAR_MAP: dict[object, Any] = {
    Int64: strawberry.scalar(
        name="Int64",
        serialize=int,
        parse_value=int,
        description="A 64-bit integer (money in fen, points in centi-points), never a float.",
    )
}
