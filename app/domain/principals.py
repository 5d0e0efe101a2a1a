"""Who is calling: one type per kind of token subject.

A token names its subject's kind (`knd`): a person signed in (`user`), a store's POS
device (`device`) or, for the partner work to come, a partner app (`partner`). Ids of
different kinds come from different sequences, so a subject is only ever looked up as
its own kind: a device of id 3 and user 3 are strangers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from app.models.users import Role


class Kind(StrEnum):
    USER = "user"
    DEVICE = "device"
    PARTNER = "partner"


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """A signed-in person, with the role the database gives them on this request."""

    kind: ClassVar[Kind] = Kind.USER
    user_id: int
    role: Role
    family: str

    @property
    def key(self) -> str:
        return f"user:{self.user_id}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def has_role(self, roles: frozenset[Role]) -> bool:
        """One of `roles`, or an admin (who may do what any role may)."""
        return self.role in roles or self.is_admin


@dataclass(frozen=True, slots=True)
class DevicePrincipal:
    """A POS device, bound to the one merchant that registered it."""

    kind: ClassVar[Kind] = Kind.DEVICE
    device_id: int
    merchant_id: int
    family: str

    @property
    def key(self) -> str:
        return f"device:{self.device_id}"


@dataclass(frozen=True, slots=True)
class PartnerPrincipal:
    """A partner app: the scopes its token grants (and the app still has), what it may
    see (merchants given by id, and regions by GB/T 2260 prefix) and its cost bucket
    (None: the settings' defaults), all as the database says on this request."""

    kind: ClassVar[Kind] = Kind.PARTNER
    app_id: int
    scopes: frozenset[str]
    family: str
    merchant_ids: frozenset[int] = frozenset()
    region_prefixes: tuple[str, ...] = ()
    cost_capacity: int | None = None
    cost_restore_rate: int | None = None

    @property
    def key(self) -> str:
        return f"partner:{self.app_id}"

    def sees(self, merchant_id: int, region_code: str) -> bool:
        """Whether a merchant is within what this app was given."""
        return merchant_id in self.merchant_ids or region_code.startswith(self.region_prefixes)


Principal = UserPrincipal | DevicePrincipal | PartnerPrincipal
