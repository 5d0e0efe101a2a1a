"""Agent types: an agency (its appointment and its end) and its monthly statement (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import encode_id
from app.api.graphql.core.scalars import Int64
from app.domain.agents import AgentErrorCode
from app.models.merchants import Agent


@strawberry.type(
    description="What one agency earned in one month (Asia/Shanghai), from the ledger."
)
class AgentStatement:
    agent_id: relay.GlobalID
    level: str = strawberry.field(description="province | city | district")
    region_code: str
    month: str = strawberry.field(description="YYYY-MM")
    orders_settled: int = strawberry.field(
        description="Orders whose agency share became final (settled) in the month."
    )
    earned_fen: Int64 = strawberry.field(
        description="Net moved into the agency's payable account in the month."
    )
    payable_fen: Int64 = strawberry.field(description="Owed to the agency now.")
    pending_fen: Int64 = strawberry.field(
        description="Shares of orders still inside their refund window, now."
    )


AgentError = error_type("AgentError", AgentErrorCode)


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
