"""Signed links to an export's file: `/exports/{id}.jsonl.gz?exp=…&sig=…`.

The signature is an HMAC-SHA256 of the export id and the expiry under a key derived
from the app's secret for this one use (a token signature can never pass for a link's,
nor the reverse). Whoever holds the link may fetch the file until it expires — like a
presigned object URL — so a link is short-lived and made afresh each time it is read.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from app.infra.config import Settings, get_settings
from app.infra.inputs import ASCII_DIGITS

_PURPOSE = b"multistore/export-link/v1"
# An expiry is Unix seconds: more digits than this is no time we would sign.
_EXP_DIGITS = 12


class LinkRefusal(StrEnum):
    EXPORT_LINK_INVALID = "EXPORT_LINK_INVALID"
    EXPORT_LINK_EXPIRED = "EXPORT_LINK_EXPIRED"


class LinkRefused(Exception):
    def __init__(self, code: LinkRefusal, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.jwt_secret.encode(), _PURPOSE, hashlib.sha256).digest()


def signature(export_id: int, exp: int, settings: Settings | None = None) -> str:
    key = _key(settings or get_settings())
    return hmac.new(key, f"{export_id}.{exp}".encode(), hashlib.sha256).hexdigest()


def path(export_id: int) -> str:
    return f"/exports/{export_id}.jsonl.gz"


def link(
    export_id: int, file_expires_at: datetime, now: datetime, settings: Settings | None = None
) -> tuple[str, datetime]:
    """A link good for the link TTL, never past the file's own expiry; and its expiry."""
    s = settings or get_settings()
    exp = min(int(now.timestamp()) + s.export_link_ttl_s, int(file_expires_at.timestamp()))
    query = f"exp={exp}&sig={signature(export_id, exp, s)}"
    url = f"{s.public_base_url.rstrip('/')}{path(export_id)}?{query}"
    return url, datetime.fromtimestamp(exp, tz=now.tzinfo)


def check(
    export_id: int,
    exp: str | None,
    sig: str | None,
    now: datetime,
    settings: Settings | None = None,
) -> None:
    """Refuse a link this app did not sign (`EXPORT_LINK_INVALID`) or one past its
    expiry (`EXPORT_LINK_EXPIRED`); the signature is checked first, so a forged link
    is never told whether its time would have been good."""
    exp_text = exp or ""
    if not ASCII_DIGITS.fullmatch(exp_text) or len(exp_text) > _EXP_DIGITS:
        raise LinkRefused(LinkRefusal.EXPORT_LINK_INVALID, "this link is not valid")
    expected = signature(export_id, int(exp_text), settings).encode()
    given = (sig or "").encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected, given):
        raise LinkRefused(LinkRefusal.EXPORT_LINK_INVALID, "this link is not valid")
    if int(exp_text) < now.timestamp():
        raise LinkRefused(LinkRefusal.EXPORT_LINK_EXPIRED, "this link has expired")
