"""Permissions are declared on the field; owner checks happen in the resolver."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from app.models.users import Role


class IsAuthenticated(BasePermission):
    message = "sign in first"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        if ctx.auth_error is not None:
            self.message = ctx.auth_error.message
            self.error_extensions = {"code": ctx.auth_error.code}
        return ctx.principal is not None


def has_role(*roles: Role) -> type[BasePermission]:
    allowed = frozenset(r.value for r in roles) | {Role.ADMIN.value}

    class HasRole(IsAuthenticated):
        message = f"requires role: {', '.join(sorted(allowed))}"
        error_extensions = {"code": "PERMISSION_DENIED"}

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            principal = info.context.principal
            if principal is None:
                self.message = "sign in first"
                self.error_extensions = {"code": "UNAUTHENTICATED"}
                return False
            return principal.role in allowed

    HasRole.__name__ = "Has" + "Or".join(r.value.title().replace("_", "") for r in roles)
    return HasRole


IsAdmin = has_role(Role.ADMIN)
IsConsumer = has_role(Role.CONSUMER, Role.MERCHANT_OWNER, Role.MERCHANT_STAFF, Role.AGENT)
IsMerchant = has_role(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF)
IsMerchantOwner = has_role(Role.MERCHANT_OWNER)
IsPosDevice = has_role(Role.POS_DEVICE)
IsAgent = has_role(Role.AGENT)
IsPartner = has_role(Role.PARTNER)
