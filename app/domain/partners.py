"""Partner apps: created by an admin with scopes and what they may see, authenticated by
client id and secret (the client-credentials grant, app/api/oauth.py), rotated and
revoked.

The secret is shown once and stored as a scrypt hash with its own salt and parameters
(`scrypt$n$r$p$salt$hash`), compared in constant time. Rotation keeps the previous
secret valid for a grace period, so a partner can roll its deployments over. Every
change bumps the app's session version (`sessions.subject_changed`): its tokens carry
only the app's id, and each request reads the app's current scopes, visibility and
state, so a revocation or a narrower grant holds from the next request on.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.domain import audit, sessions
from app.domain.audit import OPERATOR, Actor
from app.domain.principals import Kind
from app.infra.config import get_settings
from app.infra.errors import DomainError, Invalid, NotFound, error_codes
from app.infra.inputs import REGION_CODE, display_text
from app.models.merchants import Merchant
from app.models.partners import PARTNER_NAME_MAX, PartnerApp

PartnerErrorCode = error_codes("PartnerErrorCode", "NAME_TAKEN", "APP_REVOKED")

# What a partner app may be granted, in the order the API lists them.
SCOPES: tuple[str, ...] = (
    "read:merchants",
    "read:orders",
    "read:points",
    "read:releases",
    "read:stats",
    "write:counter_orders",
    "manage:webhooks",
)
_KNOWN = frozenset(SCOPES)

# scrypt at n=2^14, r=8, p=1: 16 MiB and some tens of milliseconds per check (RFC 7914's
# interactive-login figure), run off the event loop.
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
_SECRET_PREFIX = "pas_"
_CLIENT_PREFIX = "pa_"
# a hash no secret matches, checked for an unknown client id so that its answer takes
# as long as a wrong secret's
_DECOY = f"scrypt${_N}${_R}${_P}${base64.b64encode(b'0' * 16).decode()}$" + "A" * 44


def scopes_of(values: Iterable[str], field: str = "scopes") -> tuple[str, ...]:
    """The scopes named, each known, in the API's order; INVALID on `field` otherwise."""
    given = set(values)
    unknown = sorted(given - _KNOWN)
    if unknown:
        raise Invalid(f"unknown scope {unknown[0]}; the scopes are {', '.join(SCOPES)}", field)
    return tuple(s for s in SCOPES if s in given)


def region_prefix(code: str) -> str:
    """The GB/T 2260 prefix a region code stands for: a province (`310000`) covers
    every code starting `31`, a city (`310100`) every code starting `3101`, a district
    (`310101`) itself."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _region_codes(values: Sequence[str], max_count: int) -> list[str]:
    out: list[str] = []
    for value in values:
        code = (value or "").strip()
        if not REGION_CODE.fullmatch(code) or code.startswith("00"):
            raise Invalid("a region code is 6 digits (GB/T 2260)", "regionCodes")
        if code not in out:
            out.append(code)
    if len(out) > max_count:
        raise Invalid(f"at most {max_count} regions", "regionCodes")
    return out


async def _merchant_ids(values: Sequence[int], max_count: int) -> list[int]:
    ids = sorted(set(values))
    if len(ids) > max_count:
        raise Invalid(f"at most {max_count} merchants", "merchantIds")
    found = set(await Merchant.filter(id__in=ids).values_list("id", flat=True)) if ids else set()
    if len(found) < len(ids):
        raise NotFound("merchant", "merchantIds")
    return ids


# ------------------------------------------------------------------ secrets


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN
    )


async def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = await asyncio.to_thread(_scrypt, secret, salt, _N, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def _check(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        if scheme != "scrypt":
            return False
        actual = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


async def secret_matches(secret: str, stored: str) -> bool:
    return await asyncio.to_thread(_check, secret, stored)


def _new_secret() -> str:
    return _SECRET_PREFIX + secrets.token_urlsafe(32)


# ------------------------------------------------------------------ the admin's changes


async def _create_row(conn: BaseDBAsyncClient, **values: Any) -> PartnerApp:
    return await PartnerApp.create(using_db=conn, **values)


def _audited(app: PartnerApp) -> dict[str, object]:
    """What the trail keeps of an app: never its secret or the secret's hash."""
    return {
        "name": app.name,
        "client_id": app.client_id,
        "scopes": app.scopes,
        "merchant_ids": app.merchant_ids,
        "region_codes": app.region_codes,
    }


@dataclass(frozen=True)
class IssuedSecret:
    app: PartnerApp
    secret: str  # shown once


async def create_app(
    name: str,
    scopes: Sequence[str],
    *,
    merchant_ids: Sequence[int] = (),
    region_codes: Sequence[str] = (),
    cost_capacity: int | None = None,
    cost_restore_rate: int | None = None,
    by_user_id: int | None = None,
    actor: Actor = OPERATOR,
) -> IssuedSecret:
    s = get_settings()
    text = display_text(name, "name", PARTNER_NAME_MAX)
    granted = scopes_of(scopes)
    if not granted:
        raise Invalid("grant at least one scope", "scopes")
    regions = _region_codes(region_codes, s.partner_regions_max)
    ids = await _merchant_ids(merchant_ids, s.partner_merchants_max)
    for value, field in ((cost_capacity, "costCapacity"), (cost_restore_rate, "costRestoreRate")):
        if value is not None and not 1 <= value <= 1_000_000:
            raise Invalid(f"{field} must be between 1 and 1000000", field)
    secret = _new_secret()
    try:
        async with in_transaction() as conn:
            app = await _create_row(
                conn,
                name=text,
                client_id=_CLIENT_PREFIX + secrets.token_hex(12),
                secret_hash=await hash_secret(secret),
                scopes=" ".join(granted),
                merchant_ids=ids,
                region_codes=regions,
                cost_capacity=cost_capacity,
                cost_restore_rate=cost_restore_rate,
                created_by_user_id=by_user_id,
            )
            await audit.record(
                conn, actor, "createPartnerApp", ("PartnerApp", app.id), {}, _audited(app)
            )
    except IntegrityError:
        # the name is unique: a repeated create finds the first app rather than making
        # a second one with a second secret
        raise DomainError(
            PartnerErrorCode.NAME_TAKEN, "a partner app of this name exists", "name"
        ) from None
    await sessions.subject_changed(Kind.PARTNER, app.id)
    return IssuedSecret(app, secret)


async def get_app(app_id: int, field: str = "appId") -> PartnerApp:
    app = await PartnerApp.get_or_none(id=app_id)
    if app is None:
        raise NotFound("partner app", field)
    return app


async def rotate_secret(
    app_id: int, grace_seconds: int, *, actor: Actor = OPERATOR
) -> IssuedSecret:
    """A new secret; the current one keeps working for `grace_seconds` (0: not at all).
    A secret still in an earlier grace period stops working now."""
    limit = get_settings().partner_secret_grace_max_s
    if not 0 <= grace_seconds <= limit:
        raise Invalid(f"graceSeconds must be between 0 and {limit}", "graceSeconds")
    app = await get_app(app_id)
    if not app.is_active:
        raise DomainError(PartnerErrorCode.APP_REVOKED, "this partner app is revoked", "appId")
    secret = _new_secret()
    now = datetime.now(UTC)
    grace = timedelta(seconds=grace_seconds)
    app.previous_secret_hash = app.secret_hash if grace else None
    app.previous_secret_expires_at = now + grace if grace else None
    before = {"secret_rotated_at": app.secret_rotated_at}
    app.secret_hash = await hash_secret(secret)
    app.secret_rotated_at = now
    async with in_transaction() as conn:
        await app.save(using_db=conn)
        after = {"secret_rotated_at": now, "grace_seconds": grace_seconds}
        await audit.record(
            conn, actor, "rotatePartnerSecret", ("PartnerApp", app.id), before, after
        )
    await sessions.subject_changed(Kind.PARTNER, app.id)
    return IssuedSecret(app, secret)


async def revoke_app(app_id: int, reason: str, *, actor: Actor = OPERATOR) -> PartnerApp:
    """The app stops: no new token, and its tokens are refused from the next request.
    Revoking a revoked app changes nothing."""
    text = display_text(reason, "reason", 255)
    app = await get_app(app_id)
    if app.is_active:
        app.is_active = False
        app.revoked_at = datetime.now(UTC)
        app.revoked_reason = text
        async with in_transaction() as conn:
            await app.save(using_db=conn)
            await audit.record(
                conn,
                actor,
                "revokePartnerApp",
                ("PartnerApp", app.id),
                {"is_active": True},
                {"is_active": False},
                text,
            )
    await sessions.subject_changed(Kind.PARTNER, app.id)
    return app


# ------------------------------------------------------------------ the client's sign-in


class ClientRefused(Exception):
    """Why a client-credentials request is refused, as RFC 6749 §5.2 names it."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


async def authenticate_client(client_id: str, secret: str) -> PartnerApp:
    """The app whose id and secret these are (its current secret, or the previous one
    within its grace period). An unknown id costs the same scrypt as a wrong secret."""
    app = await PartnerApp.get_or_none(client_id=client_id) if len(client_id) <= 40 else None
    if app is None:
        await secret_matches(secret, _DECOY)
        raise ClientRefused("invalid_client", "client authentication failed")
    ok = await secret_matches(secret, app.secret_hash)
    expires = app.previous_secret_expires_at
    if not ok and app.previous_secret_hash and expires and expires > datetime.now(UTC):
        ok = await secret_matches(secret, app.previous_secret_hash)
    if not ok:
        raise ClientRefused("invalid_client", "client authentication failed")
    if not app.is_active:
        # the secret is right: the client may know its app was revoked
        raise ClientRefused("unauthorized_client", "this client was revoked")
    return app


def granted_scopes(app: PartnerApp, requested: str | None) -> tuple[str, ...]:
    """The scopes a token gets: those asked for (RFC 6749 §3.3, space-delimited), each
    granted to the app; all of the app's when none are asked for."""
    own = tuple(app.scopes.split())
    if requested is None:
        return own
    asked = requested.split(" ")
    if any(not s for s in asked):
        raise ClientRefused("invalid_scope", "scopes are separated by single spaces")
    outside = sorted(set(asked) - set(own))
    if outside:
        raise ClientRefused("invalid_scope", f"scope not granted to this client: {outside[0]}")
    return tuple(s for s in own if s in asked)
