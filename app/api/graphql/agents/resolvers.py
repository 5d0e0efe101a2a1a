"""Agents: monthly statements, for the agency's own user or an admin; appointing an
agent and ending an agency, for admins (each recorded in the audit trail with its
reason)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.agents.types import (
    Agency,
    AgencyEnded,
    AgentAppointed,
    AgentError,
    AgentStatement,
    AppointAgentResult,
    EndAgencyResult,
)
from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id, encode_id
from app.api.graphql.core.permissions import IsAdmin, IsAgent, user_of
from app.domain import agents
from app.domain.agents import AgentErrorCode
from app.domain.audit import Actor
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


on_error = handles_errors(AgentError, AgentErrorCode)


@strawberry.type
class AgentMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Appoint an account the agent of a region: `level` is province, city or "
            "district and `regionCode` a GB/T 2260 code of that very level; one agency "
            "in office per region and level. The account gets the agent role."
        ),
    )
    @on_error
    async def appoint_agent(
        self, info: Info, user_id: InputID, level: str, region_code: str, reason: str = ""
    ) -> AppointAgentResult:
        agent = await agents.appoint(
            decode_id(user_id, "User", "userId"),
            level,
            region_code,
            actor=Actor.admin(user_of(info).user_id),
            reason=reason,
        )
        return AgentAppointed(agency=Agency.from_model(agent))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "End an agency: it earns nothing from orders paid from now on; its region may "
            "have a new agent. The account stops being an agent when it holds no other "
            "agency."
        ),
    )
    @on_error
    async def end_agency(self, info: Info, agent_id: InputID, reason: str) -> EndAgencyResult:
        agent = await agents.end_agency(
            decode_id(agent_id, "Agent", "agentId"),
            reason,
            actor=Actor.admin(user_of(info).user_id),
        )
        return AgencyEnded(agency=Agency.from_model(agent))
