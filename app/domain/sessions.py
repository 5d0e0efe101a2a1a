"""What a token's subject is now (exists, active, role or merchant), per request, cheaply.

A token says who its subject was when it was issued; the database says who they are
now. Each subject has a version in Redis, bumped (`subject_changed`) after every change
that matters to a session — a freeze, an unfreeze, a new role, a device disabled — and
its state cached beside it, tagged with the version it was read under. A request reads
the login's revocation flag, the version and the cached state in one round trip; a
cached state of another version, or none, is read again from the database.

The tag makes the cache safe against a change racing a reload: a request that read the
old row before the change committed writes it under the old version, which the bump
has already left behind. The bump must therefore come after the change's commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from app.domain.principals import Kind
from app.infra.config import Settings, get_settings
from app.infra.redis import get_redis, run_commands
from app.models.merchants import PosDevice
from app.models.partners import PartnerApp
from app.models.users import User


def family_revoked_key(family: str) -> str:
    return f"auth:family:{family}:revoked"


def _version_key(kind: Kind, subject_id: int) -> str:
    return f"auth:ver:{kind.value}:{subject_id}"


def _state_key(kind: Kind, subject_id: int) -> str:
    return f"auth:state:{kind.value}:{subject_id}"


async def _user_state(user_id: int) -> str | None:
    rows = await User.filter(id=user_id).values_list("is_active", "role")
    return f"{int(rows[0][0])}|{rows[0][1]}" if rows else None


async def _device_state(device_id: int) -> str | None:
    rows = await PosDevice.filter(id=device_id).values_list("is_active", "merchant_id")
    return f"{int(rows[0][0])}|{rows[0][1]}" if rows else None


async def _partner_state(app_id: int) -> str | None:
    rows = await PartnerApp.filter(id=app_id).values(
        "is_active", "scopes", "merchant_ids", "region_codes", "cost_capacity", "cost_restore_rate"
    )
    if not rows:
        return None
    row = rows[0]
    detail = {
        "scopes": row["scopes"],
        "merchants": row["merchant_ids"] or [],
        "regions": row["region_codes"] or [],
        "capacity": row["cost_capacity"],
        "rate": row["cost_restore_rate"],
    }
    return f"{int(row['is_active'])}|{orjson.dumps(detail).decode()}"


def partner_detail(detail: str) -> dict:
    """What `_partner_state` keeps of an app beside its active flag."""
    parsed = orjson.loads(detail)
    return parsed if isinstance(parsed, dict) else {}


# The state as "<active 0|1>|<detail>": a user's role, a device's merchant id, a partner
# app's scopes, visibility and cost bucket (JSON). None when the subject does not exist.
_READERS: dict[Kind, Callable[[int], Awaitable[str | None]]] = {
    Kind.USER: _user_state,
    Kind.DEVICE: _device_state,
    Kind.PARTNER: _partner_state,
}


async def read_state(kind: Kind, subject_id: int) -> str | None:
    """The subject's state straight from the database (sign-ins, refreshes)."""
    reader = _READERS.get(kind)
    return None if reader is None else await reader(subject_id)


async def session_state(
    kind: Kind, subject_id: int, family: str, settings: Settings | None = None
) -> tuple[bool, str | None]:
    """(whether this login was signed out, the subject's current state): one Redis round
    trip, and a database read only when the cached state is missing or outdated."""
    redis = get_redis()
    state_key = _state_key(kind, subject_id)
    [[revoked, version, cached]] = await run_commands(
        redis, [("MGET", family_revoked_key(family), _version_key(kind, subject_id), state_key)]
    )
    version = version or "0"
    if cached is not None:
        tag, _, state = cached.partition("|")
        if tag == version:
            return revoked is not None, state
    state = await read_state(kind, subject_id)
    # A subject that does not exist is not cached: its id may be handed out later.
    if state is not None:
        ttl = (settings or get_settings()).session_state_ttl_s
        await redis.set(state_key, f"{version}|{state}", ex=ttl)
    return revoked is not None, state


async def subject_changed(kind: Kind, subject_id: int, settings: Settings | None = None) -> None:
    """Every session of this subject sees its new state on its next request. Call after
    the change has committed."""
    settings = settings or get_settings()
    version_key = _version_key(kind, subject_id)
    # The version outlives every token that could present it (a refresh token's life),
    # so it never falls back to a number a cached state was tagged with.
    await run_commands(
        get_redis(),
        [
            ("INCR", version_key),
            ("EXPIRE", version_key, settings.jwt_refresh_ttl_s),
            ("DEL", _state_key(kind, subject_id)),
        ],
        transaction=True,
    )


async def user_changed(user_id: int) -> None:
    await subject_changed(Kind.USER, user_id)
