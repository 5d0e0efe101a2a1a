"""Regional agents' statements (SPEC §7): what one agency earned in one month.

An agency's share of each order waits in `agent:N:payable:pending` while the order can
still be refunded and moves to `agent:N:payable` when the order settles. A month's
statement is read from the ledger itself — the entries that moved money into or out of
the agency's payable account during that month (Asia/Shanghai) — so it always agrees
with `verify-ledger`, and a refund inside the window never shows up as earnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections

from app.domain.ledger import acct, balances_of
from app.domain.orders import SHANGHAI
from app.infra.errors import DomainError, NotFound
from app.infra.sql import fetch
from app.models.merchants import Agent

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True)
class AgentStatement:
    agent_id: int
    user_id: int
    level: str
    region_code: str
    month: str  # YYYY-MM, Asia/Shanghai
    orders_settled: int  # orders whose share became the agency's in the month
    earned_fen: int  # net moved into the payable account in the month
    payable_fen: int  # owed to the agency now
    pending_fen: int  # now, inside orders' refund windows


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a YYYY-MM month in Shanghai."""
    m = _MONTH.fullmatch(month or "")
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2199:
        raise DomainError("INVALID", "month is YYYY-MM", "month")
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=SHANGHAI)
    end = datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


# Money into (+) and out of (-) the payable account by entries of the month, and how
# many of those entries were order settlements paying it.
_MONTH_MOVES = (
    "SELECT COUNT(DISTINCT CASE WHEN e.kind = 'order_settled' AND p.destination_id = a.id "
    "THEN e.id END) AS orders, "
    "COALESCE(SUM(CASE WHEN p.destination_id = a.id THEN p.amount ELSE -p.amount END), 0) "
    "AS net "
    "FROM ledger_accounts a "
    "JOIN ledger_postings p ON p.destination_id = a.id OR p.source_id = a.id "
    "JOIN ledger_entries e ON e.id = p.entry_id "
    "WHERE a.name = ? AND a.asset = ? AND e.created_at >= ? AND e.created_at < ?"
)


async def statement(agent_id: int, month: str) -> AgentStatement:
    start, end = month_bounds(month)
    agent = await Agent.get_or_none(id=agent_id)
    if agent is None:
        raise NotFound("agent", "agentId")
    payable = acct.agent_payable(agent.id)
    pending = acct.pending(payable)
    rows = await fetch(
        connections.get("default"),
        _MONTH_MOVES,
        [payable.name, payable.asset.value, start, end],
    )
    now = await balances_of([payable, pending])
    return AgentStatement(
        agent_id=agent.id,
        user_id=agent.user_id,  # type: ignore[attr-defined]
        level=agent.level,
        region_code=agent.region_code,
        month=month,
        orders_settled=int(rows[0]["orders"] or 0),
        earned_fen=int(rows[0]["net"] or 0),
        payable_fen=now[payable],
        pending_fen=now[pending],
    )
