"""Admin: appoint an agent to a region, end an agency. Each is recorded in the audit
trail with its reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.domain import agents
from app.domain.agents import AgentErrorCode
from app.domain.audit import Actor
from app.models.merchants import Agent
from app.schema.errors import error_type, handles_errors
from app.schema.ids import InputID, decode_id, encode_id
from app.schema.permissions import IsAdmin, user_of

AgentError = error_type("AgentError", AgentErrorCode)
on_error = handles_errors(AgentError, AgentErrorCode)


@strawberry.type(description="An agency: one account, one region at one level, for a term.")
class Agency:
    id: strawberry.ID = strawberry.field(description="The agency's Agent ID.")
    user_id: strawberry.ID
    level: str = strawberry.field(description="province | city | district")
    region_code: str
    appointed_at: datetime
    ended_at: datetime | None
    end_reason: str

    @classmethod
    def from_model(cls, a: Agent) -> Agency:
        return cls(
            id=strawberry.ID(str(encode_id("Agent", a.id))),
            user_id=strawberry.ID(str(encode_id("User", a.user_id))),
            level=a.level,
            region_code=a.region_code,
            appointed_at=a.created_at,
            ended_at=a.ended_at,
            end_reason=a.end_reason,
        )


@strawberry.type
class AgentAppointed:
    agency: Agency


@strawberry.type
class AgencyEnded:
    agency: Agency


AppointAgentResult = Annotated[
    AgentAppointed | AgentError,  # type: ignore[valid-type]
    strawberry.union("AppointAgentResult"),
]
EndAgencyResult = Annotated[
    AgencyEnded | AgentError,  # type: ignore[valid-type]
    strawberry.union("EndAgencyResult"),
]


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
