"""Small portable SQL for atomic counters (INSERT .. ON CONFLICT works on SQLite and
PostgreSQL alike; only the placeholders differ)."""

from __future__ import annotations

import re
from typing import Any


def portable(conn: Any, sql: str) -> str:
    """`?` placeholders, rewritten to `$1..$n` for PostgreSQL."""
    if conn.capabilities.dialect != "postgres":
        return sql
    n = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"\?", repl, sql)


async def execute(conn: Any, sql: str, values: list[Any]) -> list[dict[str, Any]]:
    rows = await conn.execute_query_dict(portable(conn, sql), values)
    return [dict(r) for r in rows]
