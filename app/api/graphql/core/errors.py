"""Typed errors for expected failures, and the one place DomainError becomes one.

Every mutation returns `XSuccess | XError`; `XError` has `code` (the domain's enum),
`field` and `message`. `handles_errors(XError)` wraps a resolver so domain code only
raises `DomainError` and never builds GraphQL types itself. The message is put in the
request's language here (app/infra/i18n.py); the code and field never change with it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

import strawberry

from app.infra.errors import DomainError, RateLimited
from app.infra.i18n import translate

P = ParamSpec("P")
R = TypeVar("R")

_enum_cache: dict[str, Any] = {}


def graphql_enum(py_enum: type[StrEnum]) -> Any:
    """Expose a domain's error-code enum once under its own name."""
    name = py_enum.__name__
    if name not in _enum_cache:
        _enum_cache[name] = strawberry.enum(py_enum, name=name)
    return _enum_cache[name]


def error_type(name: str, codes: type[StrEnum]) -> type:
    """Build `XError { code: XErrorCode!, field: String, message: String!,
    retryAfter: Int }`."""
    enum = graphql_enum(codes)
    cls = type(
        name,
        (),
        {
            "__annotations__": {
                "code": enum,
                "field": str | None,
                "message": str,
                "retry_after": int | None,
            },
            "field": None,
            "retry_after": strawberry.field(
                default=None, description="RATE_LIMITED: seconds before trying again."
            ),
            "__doc__": f"An expected failure; `code` says which ({codes.__name__}).",
        },
    )
    return strawberry.type(cls)


def to_error(err_cls: type, codes: type[StrEnum], exc: DomainError) -> Any:
    code = codes[exc.code] if exc.code in codes.__members__ else codes["INVALID"]
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    return err_cls(
        code=code, field=exc.field, message=translate(exc.message), retry_after=retry_after
    )


def handles_errors(
    err_cls: type, codes: type[StrEnum]
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    def wrap(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except DomainError as exc:
                return to_error(err_cls, codes, exc)

        return inner

    return wrap
