"""Agents: monthly statements, for the agency's own user or an admin."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.agents.types import AgentStatement
from app.api.graphql.core.ids import InputID, decode_id, encode_id
from app.api.graphql.core.permissions import IsAgent, user_of
from app.domain import agents
from app.infra.errors import NotFound


@strawberry.type
class AgentQuery:
    @strawberry.field(
        permission_classes=[IsAgent],
        description="An agency's statement for one month (YYYY-MM, Asia/Shanghai).",
    )
    async def agent_statement(self, info: Info, agent_id: InputID, month: str) -> AgentStatement:
        p = user_of(info)
        s = await agents.statement(decode_id(agent_id, "Agent", "agentId"), month)
        if not p.is_admin and s.user_id != p.user_id:
            raise NotFound("agent", "agentId")  # another agency's figures: as if absent
        return AgentStatement(
            agent_id=encode_id("Agent", s.agent_id),
            level=s.level,
            region_code=s.region_code,
            month=s.month,
            orders_settled=s.orders_settled,
            earned_fen=s.earned_fen,
            payable_fen=s.payable_fen,
            pending_fen=s.pending_fen,
        )
