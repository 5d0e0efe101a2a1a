"""Access and refresh tokens (pyjwt, HS256).

Access tokens are short-lived. Refresh tokens rotate: each use returns a new pair and
retires the old token. Presenting a retired refresh token means it leaked, so its whole
family (every token descended from one login) is revoked. Revocations live in Redis.

A token names its subject and the subject's kind (`knd`: user, device, partner); what
the subject may do is read per request from its current state (`sessions`), never from
the token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from app.domain import sessions
from app.domain.partners import region_prefix
from app.domain.principals import (
    DevicePrincipal,
    Kind,
    PartnerPrincipal,
    Principal,
    UserPrincipal,
)
from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError, error_codes
from app.infra.redis import get_redis
from app.models.users import Role

AuthErrorCode = error_codes(
    "AuthErrorCode",
    "WECHAT_CODE_REJECTED",
    "SMS_CODE_INVALID",
    "SMS_CODE_EXPIRED",
    "TOO_MANY_ATTEMPTS",
    "TOKEN_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_REUSED",
    "ACCOUNT_FROZEN",
)

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _refresh_key(jti: str) -> str:
    return f"auth:refresh:{jti}"


def _encode(claims: dict, settings: Settings) -> str:
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def _invalid(message: str = "token is not valid", field: str = "token") -> DomainError:
    return DomainError(AuthErrorCode.TOKEN_INVALID, message, field)


async def issue_pair(
    subject: int,
    kind: Kind,
    *,
    family: str | None = None,
    scopes: tuple[str, ...] = (),
    settings: Settings | None = None,
) -> TokenPair:
    """A pair for one subject of one kind. Roles are not in the token: each request
    reads them from the subject's current state (`sessions`)."""
    settings = settings or get_settings()
    now = int(time.time())
    family = family or secrets.token_urlsafe(12)
    base = {"iss": settings.jwt_issuer, "sub": str(subject), "knd": kind.value, "fam": family}
    if scopes:
        base["scp"] = " ".join(scopes)
    access = _encode(
        {**base, "typ": "access", "iat": now, "exp": now + settings.jwt_access_ttl_s}, settings
    )
    jti = secrets.token_urlsafe(16)
    refresh = _encode(
        {
            **base,
            "typ": "refresh",
            "jti": jti,
            "iat": now,
            "exp": now + settings.jwt_refresh_ttl_s,
        },
        settings,
    )
    await get_redis().set(_refresh_key(jti), family, ex=settings.jwt_refresh_ttl_s)
    return TokenPair(access, refresh, settings.jwt_access_ttl_s)


def _decode(token: str, typ: str, settings: Settings, field: str = "token") -> dict:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],  # never trust the header's alg ("none" included)
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise DomainError(AuthErrorCode.TOKEN_EXPIRED, "token has expired", field) from None
    except jwt.PyJWTError:
        raise _invalid(field=field) from None
    if claims.get("typ") != typ:
        raise _invalid(f"not an {typ} token", field)
    return claims


def _subject(claims: dict, field: str) -> tuple[Kind, int, str]:
    """(kind, id, login family) the token names. Tokens issued before kinds were named
    carry only a role: a POS device's role names a device, any other a user."""
    kind_name = claims.get("knd") or (
        Kind.DEVICE.value if claims.get("role") == Role.POS_DEVICE.value else Kind.USER.value
    )
    try:
        kind = Kind(kind_name)
        subject = int(claims["sub"])
    except (TypeError, ValueError):
        raise _invalid(field=field) from None
    if not 0 < subject < 2**63:  # ids are positive bigints
        raise _invalid(field=field)
    family = claims.get("fam")
    if not isinstance(family, str) or not family:
        raise _invalid(field=field)
    return kind, subject, family


def _principal(
    kind: Kind, subject: int, family: str, state: str | None, claims: dict, field: str = "token"
) -> Principal:
    """The caller, from the subject's current state; a subject that is gone, frozen or
    disabled is refused whatever its token says."""
    if state is None:
        raise _invalid(f"this {kind.value} does not exist", field)
    active, _, detail = state.partition("|")
    if kind == Kind.PARTNER:
        if active != "1":
            raise _invalid("this partner app is revoked", field)
        return _partner(subject, family, detail, claims)
    if kind == Kind.DEVICE:
        if active != "1":
            raise _invalid("this device is disabled", field)
        return DevicePrincipal(subject, int(detail), family)
    if active != "1":
        raise DomainError(AuthErrorCode.ACCOUNT_FROZEN, "this account is frozen", None)
    return UserPrincipal(subject, Role(detail), family)


def _partner(app_id: int, family: str, detail: str, claims: dict) -> PartnerPrincipal:
    """A partner app as its row says now: the token's scopes that the app still has,
    and what it may see (regions as GB/T 2260 prefixes)."""
    app = sessions.partner_detail(detail)
    token_scopes = claims.get("scp")
    granted = set(str(app.get("scopes") or "").split())
    scopes = frozenset(
        s for s in (token_scopes.split() if isinstance(token_scopes, str) else ()) if s in granted
    )
    return PartnerPrincipal(
        app_id,
        scopes,
        family,
        merchant_ids=frozenset(int(m) for m in app.get("merchants") or ()),
        region_prefixes=tuple(region_prefix(str(r)) for r in app.get("regions") or ()),
        cost_capacity=app.get("capacity"),
        cost_restore_rate=app.get("rate"),
    )


def issue_access(
    subject: int,
    kind: Kind,
    *,
    scopes: tuple[str, ...],
    ttl_s: int,
    settings: Settings | None = None,
) -> str:
    """An access token alone (no refresh token): what the client-credentials grant
    gives a partner app, which asks again with its secret when it expires."""
    settings = settings or get_settings()
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "sub": str(subject),
        "knd": kind.value,
        "fam": secrets.token_urlsafe(12),
        "typ": "access",
        "iat": now,
        "exp": now + ttl_s,
    }
    if scopes:
        claims["scp"] = " ".join(scopes)
    return _encode(claims, settings)


async def authenticate(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    claims = _decode(token, "access", settings)
    kind, subject, family = _subject(claims, "token")
    revoked, state = await sessions.session_state(kind, subject, family, settings)
    if revoked:
        raise _invalid("session was signed out")
    return _principal(kind, subject, family, state, claims)


async def rotate(refresh_token: str, settings: Settings | None = None) -> TokenPair:
    """A new pair for the same login; the subject's state is read from the database, so
    a frozen account or a disabled device cannot refresh."""
    settings = settings or get_settings()
    field = "refreshToken"
    claims = _decode(refresh_token, "refresh", settings, field)
    kind, subject, family = _subject(claims, field)
    jti = claims.get("jti")
    if not isinstance(jti, str):
        raise _invalid(field=field)
    redis = get_redis()
    if await redis.exists(sessions.family_revoked_key(family)):
        raise _invalid("session was signed out", field)
    # Checked before the token is used up: refused while frozen, it still works after.
    _principal(kind, subject, family, await sessions.read_state(kind, subject), claims, field)
    # GETDEL makes "first use wins" atomic: two concurrent refreshes cannot both rotate.
    stored = await redis.getdel(_refresh_key(jti))
    if stored is None:
        await revoke_family(family, settings)
        raise DomainError(
            AuthErrorCode.TOKEN_REUSED,
            "refresh token was already used; every session of this login is revoked",
            field,
        )
    scopes = claims.get("scp")
    return await issue_pair(
        subject,
        kind,
        family=family,
        scopes=tuple(scopes.split()) if isinstance(scopes, str) else (),
        settings=settings,
    )


async def revoke_family(family: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    await get_redis().set(sessions.family_revoked_key(family), "1", ex=settings.jwt_refresh_ttl_s)


async def logout(refresh_token: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    claims = _decode(refresh_token, "refresh", settings, "refreshToken")
    _kind, _subject_id, family = _subject(claims, "refreshToken")
    await revoke_family(family, settings)
