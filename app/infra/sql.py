"""Hand-written SQL for the hot paths (PostgreSQL).

The ORM builds a query object per call (a large share of a paid order's CPU); the few
statements every order runs are written here once instead, with `?` placeholders
numbered `$1..$n` once per text (`numbered`), so a statement's values read in order.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1..$n` (the text must hold no other `?`)."""
    n = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(repl, sql)


def marks(n: int) -> str:
    """`?, ?, ?` for an IN list or a VALUES row of n values."""
    return ", ".join("?" * n)


async def fetch(conn: Any, sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
    # Tortoise's client hands back fresh dicts already: no copy needed.
    return await conn.execute_query_dict(numbered(sql), values or [])


async def run(conn: Any, sql: str, values: list[Any] | None = None) -> int:
    """Execute; the number of rows it changed. (Tortoise counts a statement that starts
    with `WITH` by the rows it returns: give such a one `RETURNING` and `fetch` it.)"""
    count, _ = await conn.execute_query(numbered(sql), values or [])
    return int(count or 0)
