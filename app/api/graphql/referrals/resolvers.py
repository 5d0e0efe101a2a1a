"""Invitations (SPEC §6.4), the referral tree (§6.5) and a store's bound customers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import (
    Connection,
    Edge,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_size,
)
from app.api.graphql.core.permissions import IsConsumer, IsMerchant, user_of
from app.api.graphql.referrals.types import (
    AcceptInviteResult,
    InviteAccepted,
    InviteCode,
    MerchantCustomer,
    MerchantCustomers,
    ReferralError,
    ReferralInvitee,
    ReferralLevel,
    ReferralTree,
)
from app.domain import merchants, referrals
from app.domain.referrals import ReferralErrorCode
from app.infra.config import get_settings
from app.infra.errors import DomainError

on_error = handles_errors(ReferralError, ReferralErrorCode)
MAX_KEY = 2**63 - 1


def invite_link(code: str) -> str:
    settings = get_settings()
    base = settings.invite_link_base or f"{settings.public_base_url.rstrip('/')}/i/"
    return f"{base}{code}"


def _key(text: str) -> int:
    """A row id from a cursor: ASCII digits within a bigint."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_KEY:
        raise DomainError("INVALID", "malformed cursor", "after")
    return int(text)


def _tree_position(after: str | None) -> tuple[int, int] | None:
    """A tree cursor is the last row's (level, user id)."""
    if after is None:
        return None
    level, _, user_id = decode_cursor(after).partition(".")
    if level not in ("1", "2"):
        raise DomainError("INVALID", "malformed cursor", "after")
    return int(level), _key(user_id)


def _binding_position(after: str | None) -> int | None:
    return None if after is None else _key(decode_cursor(after))


def _page(
    rows: list[Any],
    n: int,
    total: int,
    cursor: Callable[[Any], Any],
    node: Callable[[Any], Any],
) -> Connection[Any]:
    edges = [Edge(cursor=encode_cursor(cursor(r)), node=node(r)) for r in rows[:n]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > n, end_cursor=edges[-1].cursor if edges else None
        ),
        total_count=total,
    )


@strawberry.type
class ReferralQuery:
    @strawberry.field(
        permission_classes=[IsConsumer],
        description="Your invite code (made the first time you ask, then always the same).",
    )
    async def my_invite_code(self, info: Info) -> InviteCode:
        code = await referrals.invite_code(user_of(info).user_id)
        return InviteCode(code=code, link=invite_link(code))

    @strawberry.field(
        permission_classes=[IsConsumer],
        description="The people you invited (depth 1) and whom they invited (depth 2): "
        "how many and what each level earned you, and a page of them, masked.",
    )
    async def referral_tree(
        self, info: Info, depth: int = 2, first: int | None = 20, after: str | None = None
    ) -> ReferralTree:
        uid = user_of(info).user_id
        n = page_size(first)
        position = _tree_position(after)
        levels = await referrals.referral_levels(uid, depth)
        rows = await referrals.referral_page(uid, depth, n + 1, position)
        return ReferralTree(
            depth=depth,
            levels=[
                ReferralLevel(
                    level=lv.level,
                    invitee_count=lv.invitees,
                    earned_fen=lv.earned_fen,
                    pending_fen=lv.pending_fen,
                )
                for lv in levels
            ],
            invitees=_page(
                rows,
                n,
                sum(lv.invitees for lv in levels),
                lambda r: f"{r.level}.{r.user_id}",
                lambda r: ReferralInvitee(
                    level=r.level,
                    name=r.name,
                    phone=r.phone,
                    joined_at=r.joined_at,
                    earned_fen=r.earned_fen,
                ),
            ),
        )

    @strawberry.field(
        permission_classes=[IsMerchant],
        description="The store's bound consumers (扫码锁客), masked, and what they brought: "
        "their orders at any store since they bound, and the bind rewards they paid it.",
    )
    async def merchant_customers(
        self, info: Info, merchant_id: InputID, first: int | None = 20, after: str | None = None
    ) -> MerchantCustomers:
        mid = decode_id(merchant_id, "Merchant", "merchantId")
        user = user_of(info)
        if not user.is_admin:
            await merchants.owned_merchant(user.user_id, mid, staff_ok=True)
        n = page_size(first)
        before = _binding_position(after)
        summary = await referrals.customers_summary(mid)
        rows = await referrals.customers_page(mid, n + 1, before)
        return MerchantCustomers(
            customer_count=summary.customers,
            order_count=summary.orders,
            order_amount_fen=summary.amount_fen,
            reward_fen=summary.reward_fen,
            customers=_page(
                rows,
                n,
                summary.customers,
                lambda r: r.binding_id,
                lambda r: MerchantCustomer(
                    name=r.name,
                    phone=r.phone,
                    bound_at=r.bound_at,
                    order_count=r.orders,
                    order_amount_fen=r.amount_fen,
                    reward_fen=r.reward_fen,
                ),
            ),
        )


@strawberry.type
class ReferralMutation:
    @strawberry.mutation(
        permission_classes=[IsConsumer],
        description="Accept an invitation by its code (or its link), before your first paid "
        "order; once: the same code again is a repeat, another code is refused.",
    )
    @on_error
    async def accept_invite(self, info: Info, code: str) -> AcceptInviteResult:
        inviter = await referrals.accept_invite(user_of(info).user_id, code)
        return InviteAccepted(inviter_name=referrals.display_name(inviter.nickname, inviter.phone))
