"""Account administration: freeze, unfreeze, set a role.

Every change here is followed, after its commit, by `sessions.user_changed`, so the
account's sessions see it on their next request. Freezing stops sign-ins, refreshes and
every signed-in call; it moves no money: balances, orders and lots stay as they are.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from app.domain import audit, sessions
from app.domain.audit import OPERATOR, Actor
from app.infra.errors import DomainError, NotFound, error_codes
from app.models.users import AccountFreeze, Role, User

AccountErrorCode = error_codes("AccountErrorCode")


async def _set_frozen(
    user_id: int, frozen: bool, *, by_user_id: int, reason: str
) -> tuple[User, AccountFreeze | None]:
    """The account in the asked state and the record that put it there. Asking again
    for the state it is in changes nothing and returns the last such record (None when
    there is none: an unfreeze of an account never frozen)."""
    reason = audit.reason_of(reason, required=True)
    if frozen and user_id == by_user_id:
        raise DomainError("INVALID", "you cannot freeze your own account", "userId")
    async with in_transaction() as conn:
        user = await User.filter(id=user_id).select_for_update().using_db(conn).first()
        if user is None:
            raise NotFound("user", "userId")
        record: AccountFreeze | None
        if user.is_active != frozen:
            record = (
                await AccountFreeze.filter(user_id=user_id, frozen=frozen)
                .using_db(conn)
                .order_by("-id")
                .first()
            )
        else:
            user.is_active = not frozen
            await user.save(using_db=conn, update_fields=["is_active"])
            record = await AccountFreeze.create(
                user_id=user_id, frozen=frozen, reason=reason, by_user_id=by_user_id, using_db=conn
            )
            await audit.record(
                conn,
                Actor.admin(by_user_id),
                "freezeUser" if frozen else "unfreezeUser",
                ("User", user_id),
                {"is_active": frozen},
                {"is_active": not frozen},
                reason,
            )
    # (also on a repeat: a bump lost to a Redis failure the first time is made now)
    await sessions.user_changed(user_id)
    return user, record


async def freeze_user(
    user_id: int, *, by_user_id: int, reason: str
) -> tuple[User, AccountFreeze | None]:
    return await _set_frozen(user_id, True, by_user_id=by_user_id, reason=reason)


async def unfreeze_user(
    user_id: int, *, by_user_id: int, reason: str
) -> tuple[User, AccountFreeze | None]:
    return await _set_frozen(user_id, False, by_user_id=by_user_id, reason=reason)


async def set_role(user_id: int, role: Role, *, actor: Actor = OPERATOR, reason: str = "") -> User:
    """Give an account another role (operations: make or demote an admin, an agent)."""
    reason = audit.reason_of(reason, required=False)
    async with in_transaction() as conn:
        user = await User.filter(id=user_id).select_for_update().using_db(conn).first()
        if user is None:
            raise NotFound("user", "userId")
        if user.role != role:
            before = {"role": user.role.value}
            user.role = role
            await user.save(using_db=conn, update_fields=["role"])
            await audit.record(
                conn, actor, "set-role", ("User", user_id), before, {"role": role.value}, reason
            )
    await sessions.user_changed(user_id)
    return user
