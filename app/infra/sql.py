"""Hand-written SQL for the hot paths, one text for SQLite and PostgreSQL.

The ORM builds a query object per call (a large share of a paid order's CPU); the few
statements every order runs are written here once instead: `?` placeholders, rewritten
to `$1..$n` for PostgreSQL once per text; `FOR UPDATE [OF t]` dropped on SQLite (one
writer at a time: nothing to lock), and so are PostgreSQL's `::type` casts (SQLite's
columns take what they are given).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"\?")
_FOR_UPDATE = re.compile(r" FOR UPDATE(?: OF \w+(?:, \w+)*)?")
_CAST = re.compile(r"::[a-z]+\b")


def is_pg(conn: Any) -> bool:
    return conn.capabilities.dialect == "postgres"


@lru_cache(maxsize=1024)
def _render(sql: str, pg: bool) -> str:
    if not pg:
        return _CAST.sub("", _FOR_UPDATE.sub("", sql))
    n = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(repl, sql)


def portable(conn: Any, sql: str) -> str:
    """The statement in the connection's dialect."""
    return _render(sql, is_pg(conn))


def marks(n: int) -> str:
    """`?, ?, ?` for an IN list or a VALUES row of n values."""
    return ", ".join("?" * n)


async def fetch(conn: Any, sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
    # Both of Tortoise's clients hand back fresh dicts already: no copy needed.
    return await conn.execute_query_dict(portable(conn, sql), values or [])


async def run(conn: Any, sql: str, values: list[Any] | None = None) -> int:
    """Execute; the number of rows it changed. (Tortoise counts a statement that starts
    with `WITH` by the rows it returns: give such a one `RETURNING` and `fetch` it.)"""
    count, _ = await conn.execute_query(portable(conn, sql), values or [])
    return int(count or 0)
