"""The sandbox provider's signing key, derived from settings, and the text it signs:
shared by the provider (app/dev/sandbox_provider.py) and our adapter for it
(app/dev/sandbox.py)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.infra.config import Settings


def sandbox_private_seed(settings: Settings) -> bytes:
    return hashlib.sha256(
        b"sandbox-provider:" + settings.sandbox_key_seed.get_secret_value().encode()
    ).digest()


def provider_key(settings: Settings) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(sandbox_private_seed(settings))


def signed_message(ts: str, nonce: str, body: bytes) -> bytes:
    return f"{ts}\n{nonce}\n".encode() + body + b"\n"
