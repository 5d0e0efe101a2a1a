"""Which callers a field serves, declared on the field; owner checks happen in the resolver.

Each permission class names the kinds of caller it serves (users, POS devices, partner
apps) and, for users, the roles. A permission keeps nothing between requests: Strawberry
builds one instance per field for the life of the schema, so a refusal is raised as its
own `DomainError` (code, message) and shaped like any other, never stored on the
instance where the next caller would be told it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from app.domain.principals import DevicePrincipal, Kind, Principal, UserPrincipal
from app.infra.errors import DomainError, PermissionDenied
from app.models.users import Role

_WHO = {Kind.USER: "signed-in users", Kind.DEVICE: "POS devices", Kind.PARTNER: "partner apps"}


class Serves(BasePermission):
    """Refuses every caller whose kind (or, for a user, role) the field does not serve."""

    kinds: ClassVar[frozenset[Kind]] = frozenset()
    # For users: the roles served (admins always are); None serves every user.
    roles: ClassVar[frozenset[Role] | None] = None

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        refusal = _refusal(info.context.principal, info.context.auth_error, self)
        if refusal is not None:
            raise refusal
        return True


def _refusal(principal: Principal | None, auth_error: DomainError | None, rule: Serves):
    if principal is None:
        # A token that was sent but not accepted says why; no token at all is
        # UNAUTHENTICATED. Both come from this request's context only.
        return auth_error or DomainError("UNAUTHENTICATED", "sign in first")
    if principal.kind not in rule.kinds:
        served = ", ".join(_WHO[k] for k in Kind if k in rule.kinds)
        return PermissionDenied(f"this field serves {served} only")
    roles = rule.roles
    if roles is not None and isinstance(principal, UserPrincipal) and not principal.has_role(roles):
        allowed = ", ".join(sorted({*roles, Role.ADMIN}))
        return PermissionDenied(f"requires role: {allowed}")
    return None


def serves(name: str, *kinds: Kind, roles: tuple[Role, ...] | None = None) -> type[Serves]:
    """A permission class (its own name, as Strawberry makes a directive per class)."""
    attrs = {"kinds": frozenset(kinds), "roles": None if roles is None else frozenset(roles)}
    return type(name, (Serves,), attrs)


def has_role(*roles: Role) -> type[Serves]:
    """Signed-in users with one of these roles (or admins); never a device or partner."""
    name = "Has" + "Or".join(r.value.title().replace("_", "") for r in roles)
    return serves(name, Kind.USER, roles=roles)


IsUser = serves("IsUser", Kind.USER)
IsAdmin = has_role(Role.ADMIN)
IsConsumer = has_role(Role.CONSUMER, Role.MERCHANT_OWNER, Role.MERCHANT_STAFF, Role.AGENT)
IsMerchant = has_role(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF)
IsMerchantOwner = has_role(Role.MERCHANT_OWNER)
IsAgent = has_role(Role.AGENT)
IsPosDevice = serves("IsPosDevice", Kind.DEVICE)
IsUserOrPosDevice = serves("IsUserOrPosDevice", Kind.USER, Kind.DEVICE)


def user_of(info: Info) -> UserPrincipal:
    """The signed-in user of a field that serves users only (its permission has let
    nobody else in; checked again so no other kind is ever read as a user)."""
    principal = info.context.principal
    if not isinstance(principal, UserPrincipal):
        raise PermissionDenied("this field serves signed-in users only")
    return principal


def viewing_user(info: Info) -> UserPrincipal | None:
    """The signed-in user, on a field anyone may call: None for anyone else (anonymous,
    a device, a partner app), who sees what an anonymous caller sees."""
    principal = info.context.principal
    return principal if isinstance(principal, UserPrincipal) else None


def device_of(info: Info) -> DevicePrincipal | None:
    principal = info.context.principal
    return principal if isinstance(principal, DevicePrincipal) else None
