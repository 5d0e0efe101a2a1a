"""Access and refresh tokens (pyjwt, HS256).

Access tokens are short-lived. Refresh tokens rotate: each use returns a new pair and
retires the old token. Presenting a retired refresh token means it leaked, so its whole
family (every token descended from one login) is revoked. Revocations live in Redis.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from app.config import Settings, get_settings
from app.errors import DomainError, error_codes
from app.redis import get_redis

AuthErrorCode = error_codes(
    "AuthErrorCode",
    "WECHAT_CODE_REJECTED",
    "SMS_CODE_INVALID",
    "SMS_CODE_EXPIRED",
    "TOO_MANY_ATTEMPTS",
    "TOKEN_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_REUSED",
)

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and role."""

    subject: int
    role: str
    family: str

    @property
    def user_id(self) -> int:
        return self.subject


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _family_key(family: str) -> str:
    return f"auth:family:{family}:revoked"


def _refresh_key(jti: str) -> str:
    return f"auth:refresh:{jti}"


def _encode(claims: dict, settings: Settings) -> str:
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


async def issue_pair(
    subject: int, role: str, *, family: str | None = None, settings: Settings | None = None
) -> TokenPair:
    settings = settings or get_settings()
    now = int(time.time())
    family = family or secrets.token_urlsafe(12)
    access = _encode(
        {
            "iss": settings.jwt_issuer,
            "sub": str(subject),
            "role": role,
            "fam": family,
            "typ": "access",
            "iat": now,
            "exp": now + settings.jwt_access_ttl_s,
        },
        settings,
    )
    jti = secrets.token_urlsafe(16)
    refresh = _encode(
        {
            "iss": settings.jwt_issuer,
            "sub": str(subject),
            "role": role,
            "fam": family,
            "typ": "refresh",
            "jti": jti,
            "iat": now,
            "exp": now + settings.jwt_refresh_ttl_s,
        },
        settings,
    )
    await get_redis().set(_refresh_key(jti), family, ex=settings.jwt_refresh_ttl_s)
    return TokenPair(access, refresh, settings.jwt_access_ttl_s)


def _decode(token: str, typ: str, settings: Settings) -> dict:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],  # never trust the header's alg ("none" included)
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise DomainError(AuthErrorCode.TOKEN_EXPIRED, "token has expired", "token") from None
    except jwt.PyJWTError:
        raise DomainError(AuthErrorCode.TOKEN_INVALID, "token is not valid", "token") from None
    if claims.get("typ") != typ:
        raise DomainError(AuthErrorCode.TOKEN_INVALID, f"not an {typ} token", "token")
    return claims


async def authenticate(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    claims = _decode(token, "access", settings)
    family = claims.get("fam", "")
    if await get_redis().exists(_family_key(family)):
        raise DomainError(AuthErrorCode.TOKEN_INVALID, "session was signed out", "token")
    try:
        subject = int(claims["sub"])
    except (TypeError, ValueError):
        raise DomainError(AuthErrorCode.TOKEN_INVALID, "token is not valid", "token") from None
    return Principal(subject=subject, role=str(claims.get("role", "")), family=family)


async def rotate(refresh_token: str, settings: Settings | None = None) -> TokenPair:
    settings = settings or get_settings()
    claims = _decode(refresh_token, "refresh", settings)
    family, jti = claims["fam"], claims["jti"]
    redis = get_redis()
    if await redis.exists(_family_key(family)):
        raise DomainError(AuthErrorCode.TOKEN_INVALID, "session was signed out", "refreshToken")
    # GETDEL makes "first use wins" atomic: two concurrent refreshes cannot both rotate.
    stored = await redis.getdel(_refresh_key(jti))
    if stored is None:
        await revoke_family(family, settings)
        raise DomainError(
            AuthErrorCode.TOKEN_REUSED,
            "refresh token was already used; every session of this login is revoked",
            "refreshToken",
        )
    return await issue_pair(int(claims["sub"]), claims["role"], family=family, settings=settings)


async def revoke_family(family: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    await get_redis().set(_family_key(family), "1", ex=settings.jwt_refresh_ttl_s)


async def logout(refresh_token: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    claims = _decode(refresh_token, "refresh", settings)
    await revoke_family(claims["fam"], settings)
