"""Which callers a field serves, declared on the field; owner checks happen in the resolver.

Each permission class names the kinds of caller it serves (users, POS devices, partner
apps) and what each needs besides: a user one of some roles, a partner app one of some
scopes (`PartnerScope("read:orders")`). Rules compose with `|`: `IsMerchant |
PartnerScope("read:stats")` serves merchant staff and partner apps holding the scope,
each by its own rule. A permission keeps nothing between requests: Strawberry builds
one instance per field for the life of the schema, so a refusal is raised as its own
`DomainError` (code, message) and shaped like any other, never stored on the instance
where the next caller would be told it.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from app.domain.principals import (
    DevicePrincipal,
    Kind,
    PartnerPrincipal,
    Principal,
    UserPrincipal,
)
from app.infra.errors import DomainError, PermissionDenied
from app.models.users import Role

_WHO = {Kind.USER: "signed-in users", Kind.DEVICE: "POS devices", Kind.PARTNER: "partner apps"}

# kind served -> what it needs besides (a user: one of these roles, admins always may; a
# partner app: one of these scopes); None: nothing more
Needs = Mapping[Kind, frozenset[str] | None]


class ScopeMissing(PermissionDenied):
    """A partner app's token does not hold the scope a field needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this field needs the scope {scope}")
        self.code = "SCOPE_MISSING"


class _Composable(abc.ABCMeta):
    def __or__(cls, other: Any) -> type[Serves]:
        return either(cls, other)


class Serves(BasePermission, metaclass=_Composable):
    """Refuses every caller whose kind (or, for a user, role; for a partner app, scope)
    the field does not serve."""

    needs: ClassVar[Needs] = {}
    # whether a caller with no (accepted) token is served, as anyone
    anonymous: ClassVar[bool] = False

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        refusal = _refusal(info.context.principal, info.context.auth_error, self)
        if refusal is not None:
            raise refusal
        return True


def _refusal(
    principal: Principal | None, auth_error: DomainError | None, rule: Serves
) -> DomainError | None:
    if principal is None:
        if rule.anonymous:
            return None
        # A token that was sent but not accepted says why; no token at all is
        # UNAUTHENTICATED. Both come from this request's context only.
        return auth_error or DomainError("UNAUTHENTICATED", "sign in first")
    if principal.kind not in rule.needs:
        served = ", ".join(_WHO[k] for k in Kind if k in rule.needs)
        return PermissionDenied(f"this field serves {served} only")
    needed = rule.needs[principal.kind]
    if needed is None:
        return None
    if isinstance(principal, UserPrincipal) and not principal.has_role(needed):  # type: ignore[arg-type]
        allowed = ", ".join(sorted({*needed, Role.ADMIN}))
        return PermissionDenied(f"requires role: {allowed}")
    if isinstance(principal, PartnerPrincipal) and needed.isdisjoint(principal.scopes):
        return ScopeMissing(" or ".join(sorted(needed)))
    return None


def _rule(name: str, needs: Needs, anonymous: bool = False) -> type[Serves]:
    """A permission class (its own name, as Strawberry makes a directive per class)."""
    return type(name, (Serves,), {"needs": dict(needs), "anonymous": anonymous})


def serves(name: str, *kinds: Kind, roles: tuple[Role, ...] | None = None) -> type[Serves]:
    needs = {k: (frozenset(roles) if k == Kind.USER and roles is not None else None) for k in kinds}
    return _rule(name, needs)


def has_role(*roles: Role) -> type[Serves]:
    """Signed-in users with one of these roles (or admins); never a device or partner."""
    name = "Has" + "Or".join(r.value.title().replace("_", "") for r in roles)
    return serves(name, Kind.USER, roles=roles)


@functools.cache
def PartnerScope(scope: str) -> type[Serves]:  # noqa: N802 - used as a class
    """Partner apps whose token holds `scope` (one of app/domain/partners.py's SCOPES)."""
    name = "PartnerScope" + "".join(p.title() for p in scope.replace(":", "_").split("_"))
    return _rule(name, {Kind.PARTNER: frozenset({scope})})


@functools.cache
def either(a: type[Serves], b: type[Serves]) -> type[Serves]:
    """Callers either rule serves, each kind by what either asks of it (the looser)."""
    needs: dict[Kind, frozenset[str] | None] = {}
    for kind in Kind:
        if kind in a.needs and kind in b.needs:
            x, y = a.needs[kind], b.needs[kind]
            needs[kind] = None if x is None or y is None else x | y
        elif kind in a.needs or kind in b.needs:
            needs[kind] = a.needs[kind] if kind in a.needs else b.needs[kind]
    return _rule(f"{a.__name__}Or{b.__name__}", needs, a.anonymous or b.anonymous)


IsUser = serves("IsUser", Kind.USER)
IsAdmin = has_role(Role.ADMIN)
IsConsumer = has_role(Role.CONSUMER, Role.MERCHANT_OWNER, Role.MERCHANT_STAFF, Role.AGENT)
IsMerchant = has_role(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF)
IsMerchantOwner = has_role(Role.MERCHANT_OWNER)
IsAgent = has_role(Role.AGENT)
IsPosDevice = serves("IsPosDevice", Kind.DEVICE)
IsUserOrPosDevice = serves("IsUserOrPosDevice", Kind.USER, Kind.DEVICE)
# the counter: a store's POS devices, or its owner and staff (the store checked in the
# resolver)
IsMerchantOrPosDevice = serves(
    "IsMerchantOrPosDevice",
    Kind.USER,
    Kind.DEVICE,
    roles=(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF),
)
# the counter for partner apps too: their till systems, holding `write:counter_orders`,
# at a store they were given (checked in the resolver)
IsMerchantOrPosDeviceOrCounterPartner = either(
    IsMerchantOrPosDevice, PartnerScope("write:counter_orders")
)
# anyone but a partner app: callers without a token, users and devices (a field open to
# all that partners may call too adds `| PartnerScope(...)`)
Anyone = _rule("Anyone", {Kind.USER: None, Kind.DEVICE: None}, anonymous=True)


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


def partner_of(info: Info) -> PartnerPrincipal | None:
    principal = info.context.principal
    return principal if isinstance(principal, PartnerPrincipal) else None
