"""Relay connections, capped at 100 per page.

Cursors are keyset positions (the last row's primary key), so a page does not shift
when rows are added while a client scrolls.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from app.infra.errors import DomainError

T = TypeVar("T")
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(f"k:{value}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except Exception:
        raise DomainError("INVALID", "malformed cursor", "after") from None
    if not raw.startswith("k:"):
        raise DomainError("INVALID", "malformed cursor", "after")
    return raw[2:]


def page_size(first: int | None) -> int:
    if first is None:
        return 20
    if first < 1 or first > MAX_PAGE:
        raise DomainError("INVALID", f"first must be between 1 and {MAX_PAGE}", "first")
    return first


async def paginate(
    queryset: Any,
    first: int | None,
    after: str | None,
    to_node: Callable[[Any], T] | Callable[[Sequence[Any]], Awaitable[list[T]]],
    *,
    newest_first: bool = True,
    batch: bool = False,
) -> Connection[T]:
    """Keyset pagination over a Tortoise queryset ordered by primary key."""
    n = page_size(first)
    total = await queryset.count()
    qs = queryset
    if after is not None:
        try:
            key = int(decode_cursor(after))
        except ValueError:
            raise DomainError("INVALID", "malformed cursor", "after") from None
        qs = qs.filter(id__lt=key) if newest_first else qs.filter(id__gt=key)
    rows = await qs.order_by("-id" if newest_first else "id").limit(n + 1)
    has_next = len(rows) > n
    rows = rows[:n]
    if batch:
        nodes = await to_node(rows)  # type: ignore[misc]
    else:
        nodes = [to_node(r) for r in rows]
    edges = [
        Edge(cursor=encode_cursor(r.id), node=node) for r, node in zip(rows, nodes, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )
