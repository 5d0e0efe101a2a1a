"""Member codes (会员码): what the consumer's app shows for a store's POS to scan (SPEC §13).

A code is a JWT (HS256) naming the consumer, a random id and its purpose, signed with
a key of its own: derived from the platform secret for this purpose only, so an access
token never verifies as a member code, nor a member code as a token. It lives
`MEMBER_CODE_TTL_S` (about a minute); the app asks for a new one as it runs out. It is
scanned at most once: the first scan claims its id in Redis (SET NX) for as long as the
code could still verify, so a copy (a photo of the screen) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError
from app.infra.redis import get_redis

ALGORITHM = "HS256"
PURPOSE = "member_code"
# clocks of the API workers may differ this much; a code is honoured no longer than that
LEEWAY_S = 2


@dataclass(frozen=True, slots=True)
class MemberCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Scanned:
    """A member code that verified: whose it is, and its id (claimed once)."""

    consumer_id: int
    code_id: str
    expires: int  # unix seconds


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.jwt_secret.encode(), b"member-code/v1", hashlib.sha256).digest()


def issue(consumer_id: int, settings: Settings | None = None) -> MemberCode:
    """A fresh code for this consumer: every call makes a new one."""
    settings = settings or get_settings()
    now = int(time.time())
    exp = now + settings.member_code_ttl_s
    claims = {
        "iss": settings.jwt_issuer,
        "pur": PURPOSE,
        "sub": str(consumer_id),
        "jti": secrets.token_urlsafe(12),
        "iat": now,
        "exp": exp,
    }
    code = jwt.encode(claims, _key(settings), algorithm=ALGORITHM)
    return MemberCode(code, datetime.fromtimestamp(exp, UTC))


def _invalid() -> DomainError:
    return DomainError("MEMBER_CODE_INVALID", "not a member code", "code")


def read(code: str, settings: Settings | None = None) -> Scanned:
    """The code's consumer, if its signature holds and it has not expired; whether it
    was scanned before is `claim`'s to say."""
    settings = settings or get_settings()
    try:
        claims = jwt.decode(
            (code or "").strip(),
            _key(settings),
            algorithms=[ALGORITHM],  # never the header's own choice
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "pur"]},
        )
    except jwt.ExpiredSignatureError:  # raised only once the signature verified
        raise DomainError(
            "MEMBER_CODE_EXPIRED", "this member code has expired; refresh it in the app", "code"
        ) from None
    except jwt.PyJWTError:
        raise _invalid() from None
    subject, code_id = claims.get("sub"), claims.get("jti")
    if claims.get("pur") != PURPOSE or not isinstance(code_id, str) or not code_id:
        raise _invalid()
    try:
        consumer_id = int(subject)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _invalid() from None
    if not 0 < consumer_id < 2**63:
        raise _invalid()
    return Scanned(consumer_id, code_id, int(claims["exp"]))


def _used_key(code_id: str) -> str:
    return f"member-code:used:{code_id}"


async def claim(scanned: Scanned) -> None:
    """Use the code up; a second scan (even a concurrent one) is refused."""
    ttl = max(1, scanned.expires + LEEWAY_S - int(time.time()) + 1)
    if not await get_redis().set(_used_key(scanned.code_id), "1", nx=True, ex=ttl):
        raise DomainError(
            "MEMBER_CODE_USED", "this member code was scanned already; show a new one", "code"
        )
