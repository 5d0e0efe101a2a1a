"""Users and sign-in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import error_type, graphql_enum
from app.api.graphql.core.ids import encode_id
from app.api.graphql.core.permissions import viewing_user
from app.domain.tokens import AuthErrorCode, TokenPair
from app.domain.users import AccountErrorCode
from app.models.users import AccountFreeze, Role, User

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.type(name="User")
class UserType(relay.Node):
    id: relay.NodeID[int]
    role: RoleEnum  # type: ignore[valid-type]
    nickname: str
    phone_masked: str | None
    has_wechat: bool
    frozen: bool = strawberry.field(description="Frozen accounts cannot sign in or act.")
    created_at: datetime

    @classmethod
    def from_model(cls, u: User) -> UserType:
        masked = (u.phone[:3] + "****" + u.phone[-4:]) if u.phone else None
        return cls(
            id=u.id,
            role=u.role,
            nickname=u.nickname,
            phone_masked=masked,
            has_wechat=bool(u.wechat_openid),
            frozen=not u.is_active,
            created_at=u.created_at,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        viewer = viewing_user(info)
        out: list[Any] = []
        for nid in node_ids:
            pk = int(nid)
            # A user node is readable by that user and by admins only.
            if viewer is None or (viewer.user_id != pk and not viewer.is_admin):
                out.append(None)
                continue
            u = await User.get_or_none(id=pk)
            out.append(cls.from_model(u) if u else None)
        return out


AuthError = error_type("AuthError", AuthErrorCode)
graphql_enum(AuthErrorCode)


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserType | None = None

    @classmethod
    def of(cls, pair: TokenPair, user: User | None = None) -> AuthPayload:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            user=UserType.from_model(user) if user else None,
        )


@strawberry.type
class SmsCodeSent:
    resend_after_seconds: int


@strawberry.type
class LogoutSuccess:
    ok: bool = True


AuthResult = Annotated[AuthPayload | AuthError, strawberry.union("AuthResult")]  # type: ignore[valid-type]
SmsCodeResult = Annotated[SmsCodeSent | AuthError, strawberry.union("SmsCodeResult")]  # type: ignore[valid-type]
LogoutResult = Annotated[LogoutSuccess | AuthError, strawberry.union("LogoutResult")]  # type: ignore[valid-type]


AccountError = error_type("AccountError", AccountErrorCode)


@strawberry.type(description="Who froze or unfroze an account, when and why.")
class AccountFreezeRecord:
    frozen: bool
    reason: str
    by_user_id: strawberry.ID | None
    at: datetime

    @classmethod
    def of(cls, r: AccountFreeze) -> AccountFreezeRecord:
        by = str(encode_id("User", r.by_user_id)) if r.by_user_id else None
        return cls(
            frozen=r.frozen,
            reason=r.reason,
            by_user_id=strawberry.ID(by) if by else None,
            at=r.created_at,
        )


@strawberry.type
class UserFrozen:
    user: UserType
    record: AccountFreezeRecord | None


@strawberry.type
class UserUnfrozen:
    user: UserType
    record: AccountFreezeRecord | None


FreezeUserResult = Annotated[UserFrozen | AccountError, strawberry.union("FreezeUserResult")]  # type: ignore[valid-type]
UnfreezeUserResult = Annotated[UserUnfrozen | AccountError, strawberry.union("UnfreezeUserResult")]  # type: ignore[valid-type]
