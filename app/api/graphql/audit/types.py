"""The audit trail as admins read it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.api.graphql.core.ids import encode_id
from app.models.audit import AuditEntry

# Targets that are Nodes of this API are shown by their Global ID; others (a payment
# channel) by their own name.
_NODE_TARGETS = frozenset({"Agent", "MallItem", "MallRedemption", "Merchant", "Order", "User"})


# the node type an actor's id names, by its kind
_ACTOR_TYPES = {"user": "User", "partner": "PartnerApp"}


@strawberry.type(
    name="AuditEntry",
    description="One admin or operator change: who, when, what, before and after, why.",
)
class AuditEntryType:
    seq: int = strawberry.field(description="Its place in the hash chain, from 1.")
    at: datetime
    actor_kind: str = strawberry.field(
        description="user (an admin) | operator (the CLI) | partner (an app, its own webhooks)"
    )
    actor_id: strawberry.ID | None = strawberry.field(
        description="The admin's User ID (a partner app's PartnerApp ID)."
    )
    action: str = strawberry.field(description="The mutation or command, e.g. approveMerchant.")
    target_type: str
    target_id: str
    before: str = strawberry.field(description="The target before the change, as JSON.")
    after: str = strawberry.field(description="The target after the change, as JSON.")
    reason: str
    hash: str = strawberry.field(description="sha256 over the previous hash and this entry.")

    @classmethod
    def from_model(cls, e: AuditEntry) -> AuditEntryType:
        target_id = (
            str(encode_id(e.target_type, int(e.target_id)))
            if e.target_type in _NODE_TARGETS
            else e.target_id
        )
        return cls(
            seq=e.seq,
            at=e.at,
            actor_kind=e.actor_kind,
            actor_id=(
                strawberry.ID(str(encode_id(_ACTOR_TYPES.get(e.actor_kind, "User"), e.actor_id)))
                if e.actor_id
                else None
            ),
            action=e.action,
            target_type=e.target_type,
            target_id=target_id,
            before=e.before,
            after=e.after,
            reason=e.reason,
            hash=e.hash,
        )
