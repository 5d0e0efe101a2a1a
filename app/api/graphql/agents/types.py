"""Agent types: a regional agency's monthly statement (SPEC §7)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from app.api.graphql.core.scalars import Int64


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
    earned_fen: Int64 = strawberry.field(  # type: ignore[valid-type]
        description="Net moved into the agency's payable account in the month."
    )
    payable_fen: Int64 = strawberry.field(  # type: ignore[valid-type]
        description="Owed to the agency now."
    )
    pending_fen: Int64 = strawberry.field(  # type: ignore[valid-type]
        description="Shares of orders still inside their refund window, now."
    )
