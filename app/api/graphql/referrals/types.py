"""Invite codes, the referral tree and a store's bound customers as the graph shows them.

No one else's Global ID is shown here: an invitee or a customer is a masked name, a
masked phone and figures, never a handle on their account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.pagination import Connection
from app.api.graphql.core.scalars import Int64
from app.domain.referrals import ReferralErrorCode

ReferralError = error_type("ReferralError", ReferralErrorCode)


@strawberry.type
class InviteCode:
    """Your invite code, the same every time: share the link, or show it as a QR code."""

    code: str
    link: str = strawberry.field(description="The code as a link; a QR code holds this.")


@strawberry.type
class InviteAccepted:
    inviter_name: str = strawberry.field(description="Who invited you, masked (张**).")


AcceptInviteResult = Annotated[
    InviteAccepted | ReferralError,  # type: ignore[valid-type]
    strawberry.union("AcceptInviteResult"),
]


@strawberry.type
class ReferralLevel:
    level: int = strawberry.field(description="1: people you invited; 2: people they invited.")
    invitee_count: int
    earned_fen: Int64 = strawberry.field(
        description="Invite rewards this level's orders paid you (vouchers, fen), net of "
        "refunds, pending ones included."
    )
    pending_fen: Int64 = strawberry.field(
        description="The part of earnedFen still inside its orders' refund windows."
    )


@strawberry.type
class ReferralInvitee:
    level: int
    name: str = strawberry.field(description="Masked: 张** or 138****1234.")
    phone: str | None = strawberry.field(description="Masked: 138****1234.")
    joined_at: datetime
    earned_fen: Int64 = strawberry.field(
        description="Invite rewards this person's orders paid you, net of refunds."
    )


@strawberry.type
class ReferralTree:
    depth: int
    levels: list[ReferralLevel] = strawberry.field(description="Level 1 first.")
    invitees: Connection[ReferralInvitee] = strawberry.field(
        description="Level 1 first, the newest first within a level."
    )


@strawberry.type
class MerchantCustomer:
    """A consumer bound to the store (扫码锁客) and what they brought since."""

    name: str = strawberry.field(description="Masked: 张** or 138****1234.")
    phone: str | None = strawberry.field(description="Masked: 138****1234.")
    bound_at: datetime
    order_count: int = strawberry.field(
        description="Their paid orders at any store since they bound, less those refunded whole."
    )
    order_amount_fen: Int64 = strawberry.field(
        description="The amount of those orders, net of refunds."
    )
    reward_fen: Int64 = strawberry.field(
        description="Bind rewards their orders paid the store (vouchers), net of refunds."
    )


@strawberry.type
class MerchantCustomers:
    customer_count: int
    order_count: int
    order_amount_fen: Int64
    reward_fen: Int64
    customers: Connection[MerchantCustomer] = strawberry.field(
        description="The newest binding first."
    )
