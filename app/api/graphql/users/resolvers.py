"""Sign-in mutations and `me`."""

import strawberry
from strawberry.types import Info

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsAdmin, IsUser, user_of
from app.api.graphql.users.types import (
    AccountError,
    AccountFreezeRecord,
    AuthError,
    AuthPayload,
    AuthResult,
    FreezeUserResult,
    LogoutResult,
    LogoutSuccess,
    SmsCodeResult,
    SmsCodeSent,
    UnfreezeUserResult,
    UserFrozen,
    UserType,
    UserUnfrozen,
)
from app.domain import tokens, users
from app.domain.tokens import AuthErrorCode
from app.domain.users import AccountErrorCode
from app.infra import limits
from app.models.users import User
from app.services import auth

on_error = handles_errors(AuthError, AuthErrorCode)
on_account_error = handles_errors(AccountError, AccountErrorCode)


@strawberry.type
class AuthQuery:
    @strawberry.field(permission_classes=[IsUser], description="The signed-in user.")
    async def me(self, info: Info) -> UserType | None:
        user = await User.get_or_none(id=user_of(info).user_id)
        return UserType.from_model(user) if user else None

    @strawberry.field(permission_classes=[IsAdmin], description="All users (operations).")
    async def admin_users(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[UserType]:
        return await paginate(User.all(), first, after, UserType.from_model)


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Sign in with a `wx.login` code from the mini-program.")
    @on_error
    async def login_with_wechat(self, code: str) -> AuthResult:
        user, pair = await auth.login_with_wechat(code)
        return AuthPayload.of(pair, user)

    @strawberry.mutation(description="Send a sign-in code by SMS.")
    @on_error
    async def request_sms_code(self, info: Info, phone: str) -> SmsCodeResult:
        phone = auth.normalise_phone(phone)
        budgets = limits.sms_send_budgets(phone, info.context.scope)
        wait = await auth.request_sms_code(phone, budgets=budgets)
        return SmsCodeSent(resend_after_seconds=wait)

    @strawberry.mutation(description="Sign in with phone + SMS code.")
    @on_error
    async def login_with_sms(self, info: Info, phone: str, code: str) -> AuthResult:
        phone = auth.normalise_phone(phone)
        budgets = limits.sms_login_budgets(phone, info.context.scope)
        async with limits.failures(*budgets, field="code"):
            user, pair = await auth.login_with_sms(phone, code)
        return AuthPayload.of(pair, user)

    @strawberry.mutation(description="Trade a refresh token for a new pair (rotation).")
    @on_error
    async def refresh_token(self, refresh_token: str) -> AuthResult:
        return AuthPayload.of(await tokens.rotate(refresh_token))

    @strawberry.mutation(description="Revoke this login's refresh-token family.")
    @on_error
    async def logout(self, refresh_token: str) -> LogoutResult:
        await tokens.logout(refresh_token)
        return LogoutSuccess()

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "Freeze an account: its sign-ins, refreshes and every signed-in call are refused "
            "(ACCOUNT_FROZEN) from its next request; its balances stay as they are."
        ),
    )
    @on_account_error
    async def freeze_user(self, info: Info, user_id: InputID, reason: str) -> FreezeUserResult:
        user, record = await users.freeze_user(
            decode_id(user_id, "User", "userId"), by_user_id=user_of(info).user_id, reason=reason
        )
        return UserFrozen(
            user=UserType.from_model(user),
            record=AccountFreezeRecord.of(record) if record else None,
        )

    @strawberry.mutation(permission_classes=[IsAdmin], description="Lift a freeze.")
    @on_account_error
    async def unfreeze_user(self, info: Info, user_id: InputID, reason: str) -> UnfreezeUserResult:
        user, record = await users.unfreeze_user(
            decode_id(user_id, "User", "userId"), by_user_id=user_of(info).user_id, reason=reason
        )
        return UserUnfrozen(
            user=UserType.from_model(user),
            record=AccountFreezeRecord.of(record) if record else None,
        )
