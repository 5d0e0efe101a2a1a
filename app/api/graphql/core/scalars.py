"""Shared scalars."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError

# Sums of fen / centi-points can pass 2^31 (GraphQL Int): an exact integer, as a JSON
# number (exact in JavaScript up to 2^53).
if TYPE_CHECKING:
    Int64 = int  # to the type checker, a plain int
else:
    Int64 = NewType("Int64", int)


def _finite_decimal(value: object) -> Decimal:
    """A coordinate or rate is a finite number: NaN, sNaN and Infinity parse as Decimals
    but no arithmetic takes them (sNaN refuses even a comparison). Refused as Strawberry's
    own scalars refuse a value: a coercion error, so INVALID on the field, in variables
    and in literals alike."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StrawberryInputCoercionError("Decimal is a number or a numeric string")
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        raise StrawberryInputCoercionError("not a decimal number") from None
    if not parsed.is_finite():
        raise StrawberryInputCoercionError("Decimal must be a finite number")
    return parsed


SCALAR_MAP: dict[object, Any] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        serialize=str,
        parse_value=_finite_decimal,
        description="Decimal (fixed-point)",
    ),
    Int64: strawberry.scalar(
        name="Int64",
        serialize=int,
        parse_value=int,
        description="A 64-bit integer (money in fen, points in centi-points), never a float.",
    ),
}
