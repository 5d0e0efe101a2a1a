"""`auditLog`: the admin audit trail, newest first (admins only)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.api.graphql.audit.types import AuditEntryType
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsAdmin
from app.infra.errors import Invalid
from app.models.audit import AuditEntry

ACTION_MAX = 64


@strawberry.type
class AuditQuery:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description=(
            "What admins and operators changed, newest first; `actor` (a User ID) and "
            "`action` (a mutation's name, e.g. approveMerchant) narrow it."
        ),
    )
    async def audit_log(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        actor: InputID | None = None,
        action: str | None = None,
    ) -> Connection[AuditEntryType]:
        qs = AuditEntry.all()
        if actor is not None:
            qs = qs.filter(actor_id=decode_id(actor, "User", "actor"))
        if action is not None:
            action = action.strip()
            if not action or len(action) > ACTION_MAX:
                raise Invalid("action is a mutation's name", "action")
            qs = qs.filter(action=action)
        return await paginate(qs, first, after, AuditEntryType.from_model)
