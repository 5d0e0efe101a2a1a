"""Users and sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.tokens import AuthErrorCode, TokenPair
from app.models.users import Role, User
from app.schema.errors import error_type, graphql_enum

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.type(name="User")
class UserType(relay.Node):
    id: relay.NodeID[int]
    role: RoleEnum  # type: ignore[valid-type]
    nickname: str
    phone_masked: str | None
    has_wechat: bool
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
            created_at=u.created_at,
        )

    @classmethod
    async def resolve_nodes(cls, *, info, node_ids, required=False):  # type: ignore[override]
        principal = info.context.principal
        out = []
        for nid in node_ids:
            pk = int(nid)
            # A user node is readable by that user and by admins only.
            if principal is None or (principal.user_id != pk and principal.role != "admin"):
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
