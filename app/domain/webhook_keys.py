"""The platform's webhook signing keys: a detached-payload JWS (RFC 7515 appendix F with
RFC 7797's unencoded payload, `"b64": false`) over each delivery's exact body, signed
with the newest key and verified by partners against `GET /.well-known/jwks.json`.

Keys live in `webhook_signing_keys`, the private half encrypted (Fernet) under a key
derived from `webhook_key_secret` (or `jwt_secret` when that is empty). The first
signature made with no key in the table makes one (dev, tests, a fresh install);
`python -m app.cli rotate-webhook-key` makes a new one and retires the current one, which
stays published for `webhook_key_publish_s` so receivers that cache the JWKS, and
deliveries signed just before the rotation, still verify.

The signing itself is pyjwt's (`api_jws.encode(..., is_payload_detached=True)`); the
protected header also carries the delivery's id and the attempt's timestamp, so a
receiver can check them against the `Webhook-Id` and `Webhook-Timestamp` headers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt import api_jws
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from tortoise.transactions import in_transaction

from app.infra.config import get_settings
from app.infra.sql import run
from app.models.webhooks import WebhookSigningKey

ALGORITHMS = ("EdDSA", "RS256")
# the active key is read again after this long, so a rotation made by another process
# takes effect within it (the old key stays published meanwhile)
_CACHE_S = 60.0
_LOCK = 0x77686B  # pg_advisory_xact_lock: one key made at a time
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any  # a cryptography private key


_current: tuple[float, SigningKey] | None = None


def _fernet() -> Fernet:
    s = get_settings()
    secret = s.webhook_key_secret or s.jwt_secret
    digest = hashlib.sha256(b"webhook-signing-keys:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _generate(alg: str) -> tuple[Any, dict[str, Any]]:
    if alg == "EdDSA":
        ed = ed25519.Ed25519PrivateKey.generate()
        return ed, json.loads(OKPAlgorithm.to_jwk(ed.public_key()))
    if alg == "RS256":
        rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return rs, json.loads(RSAAlgorithm.to_jwk(rs.public_key()))
    raise ValueError(f"unsupported signing algorithm {alg}")


def _load(row: WebhookSigningKey) -> SigningKey:
    try:
        pem = _fernet().decrypt(row.private_key.encode())
    except InvalidToken:
        raise RuntimeError(
            f"webhook signing key {row.kid} cannot be decrypted: WEBHOOK_KEY_SECRET (or "
            "JWT_SECRET, when that is unset) changed since it was made; "
            "`python -m app.cli rotate-webhook-key` makes a new one"
        ) from None
    return SigningKey(row.kid, row.alg, serialization.load_pem_private_key(pem, password=None))


async def _make(conn: Any, alg: str) -> WebhookSigningKey:
    private, jwk = _generate(alg)
    kid = f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk.update(kid=kid, alg=alg, use="sig")
    return await WebhookSigningKey.create(
        using_db=conn,
        kid=kid,
        alg=alg,
        private_key=_fernet().encrypt(pem).decode(),
        public_jwk=jwk,
    )


async def _active(conn: Any) -> WebhookSigningKey | None:
    return (
        await WebhookSigningKey.filter(retired_at__isnull=True)
        .using_db(conn)
        .order_by("-created_at")
        .first()
    )


async def signing_key() -> SigningKey:
    """The key deliveries are signed with now (made on first use)."""
    global _current
    if _current is not None and _current[0] > time.monotonic():
        return _current[1]
    async with in_transaction() as conn:
        row = await _active(conn)
        if row is None:
            await run(conn, "SELECT pg_advisory_xact_lock(?)", [_LOCK])
            row = await _active(conn) or await _make(conn, get_settings().webhook_signing_alg)
    key = _load(row)
    _current = (time.monotonic() + _CACHE_S, key)
    return key


def forget_cached_key() -> None:
    global _current
    _current = None


async def rotate(alg: str | None = None) -> WebhookSigningKey:
    """A new signing key; the current one stops signing and stays published for
    `webhook_key_publish_s`."""
    s = get_settings()
    alg = alg or s.webhook_signing_alg
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg}")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await run(conn, "SELECT pg_advisory_xact_lock(?)", [_LOCK])
        await (
            WebhookSigningKey.filter(retired_at__isnull=True)
            .using_db(conn)
            .update(retired_at=now, unpublish_at=now + timedelta(seconds=s.webhook_key_publish_s))
        )
        made = await _make(conn, alg)
    forget_cached_key()
    return made


async def jwks() -> dict[str, Any]:
    """The public keys a receiver verifies with: the signing key and those retired but
    still published, newest first."""
    now = datetime.now(UTC)
    rows = await WebhookSigningKey.all().order_by("-created_at")
    keys = [r.public_jwk for r in rows if r.unpublish_at is None or r.unpublish_at > now]
    return {"keys": keys}


def sign(body: bytes, key: SigningKey, webhook_id: str, timestamp: int) -> str:
    """`Webhook-Signature`: the compact JWS with its payload left out
    (`<protected>..<signature>`), the payload being `body` as sent (unencoded)."""
    return api_jws.encode(
        body,
        key.private,
        algorithm=key.alg,
        headers={"kid": key.kid, ID_HEADER: webhook_id, TIMESTAMP_HEADER: timestamp, "b64": False},
        is_payload_detached=True,
    )
