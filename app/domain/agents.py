"""Regional agents (SPEC §7): their appointment and its end, and what one agency
earned in one month.

An admin appoints an agent to a region of the agent's own level (a province code for a
province agent, …), one agency in office per region and level; the account gets the
agent role. Ending an agency stops its shares for orders paid from then on; the account
goes back to a consumer when it holds no other agency. Both are recorded in the audit
trail in their own transaction.

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
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import audit, regions, sessions
from app.domain.audit import Actor
from app.domain.ledger import acct, balances_of
from app.domain.orders import SHANGHAI
from app.infra.errors import DomainError, NotFound, error_codes
from app.infra.sql import fetch
from app.models.merchants import Agent
from app.models.users import Role, User

AgentErrorCode = error_codes("AgentErrorCode", "REGION_TAKEN", "ROLE_CONFLICT")

# Roles an appointment turns into the agent role; an admin stays an admin (who may act
# as every role), and any other role is refused rather than taken away.
_BECOMES_AGENT = {Role.CONSUMER, Role.AGENT}

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
        user_id=agent.user_id,
        level=agent.level,
        region_code=agent.region_code,
        month=month,
        orders_settled=int(rows[0]["orders"] or 0),
        earned_fen=int(rows[0]["net"] or 0),
        payable_fen=now[payable],
        pending_fen=now[pending],
    )


def _agency(agent: Agent) -> dict[str, object]:
    return {
        "user_id": agent.user_id,
        "level": agent.level,
        "region_code": agent.region_code,
        "ended_at": agent.ended_at.isoformat() if agent.ended_at else None,
        "end_reason": agent.end_reason,
    }


async def appoint(
    user_id: int, level: str, region_code: str, *, actor: Actor, reason: str = ""
) -> Agent:
    """Appoint `user_id` the agent of a region at its level. Appointing the agent in
    office again is a repeat: it changes nothing and records nothing."""
    reason = audit.reason_of(reason, required=False)
    region = await regions.agent_region(level, region_code)
    async with in_transaction() as conn:
        user = await User.filter(id=user_id).select_for_update().using_db(conn).first()
        if user is None:
            raise NotFound("user", "userId")
        if not user.is_active:
            raise DomainError("INVALID", "a frozen account cannot be appointed", "userId")
        if user.role not in _BECOMES_AGENT and user.role != Role.ADMIN:
            raise DomainError(
                AgentErrorCode.ROLE_CONFLICT,
                f"this account is a {user.role.value}, not a consumer",
                "userId",
            )
        sitting = (
            await Agent.filter(level=region.level.value, region_code=region.code, ended_at=None)
            .using_db(conn)
            .first()
        )
        if sitting is not None:
            if sitting.user_id == user_id:
                return sitting
            raise DomainError(
                AgentErrorCode.REGION_TAKEN, "this region has an agent at this level", "regionCode"
            )
        role_before = user.role
        try:  # (a concurrent appointment to the same region commits first)
            agent = await Agent.create(
                user_id=user_id, level=region.level.value, region_code=region.code, using_db=conn
            )
        except IntegrityError:
            raise DomainError(
                AgentErrorCode.REGION_TAKEN, "this region has an agent at this level", "regionCode"
            ) from None
        if user.role != Role.ADMIN:
            user.role = Role.AGENT
            await user.save(using_db=conn, update_fields=["role"])
        await audit.record(
            conn,
            actor,
            "appointAgent",
            ("Agent", agent.id),
            {"role": role_before.value},
            {**_agency(agent), "role": user.role.value},
            reason,
        )
    await sessions.user_changed(user_id)
    return agent


async def end_agency(agent_id: int, reason: str, *, actor: Actor) -> Agent:
    """End an agency: it earns nothing from orders paid from now on (shares of orders
    already paid settle to it as before). Ending an ended agency is a repeat."""
    reason = audit.reason_of(reason, required=True)
    async with in_transaction() as conn:
        agent = await Agent.filter(id=agent_id).select_for_update().using_db(conn).first()
        if agent is None:
            raise NotFound("agent", "agentId")
        if agent.ended_at is not None:
            return agent
        before = _agency(agent)
        agent.ended_at = datetime.now(UTC)
        agent.end_reason = reason
        await agent.save(using_db=conn, update_fields=["ended_at", "end_reason"])
        user = await User.filter(id=agent.user_id).select_for_update().using_db(conn).get()
        role_before = user.role
        others = await Agent.filter(user_id=agent.user_id, ended_at=None).using_db(conn).exists()
        if user.role == Role.AGENT and not others:
            user.role = Role.CONSUMER
            await user.save(using_db=conn, update_fields=["role"])
        await audit.record(
            conn,
            actor,
            "endAgency",
            ("Agent", agent.id),
            {**before, "role": role_before.value},
            {**_agency(agent), "role": user.role.value},
            reason,
        )
    await sessions.user_changed(agent.user_id)
    return agent
