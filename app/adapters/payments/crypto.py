"""Signatures and decryption, on `cryptography` only. Nothing here logs."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.infra import inputs

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey


def _pem_text(value: str) -> bytes:
    """PEM text, bare base64 (as Alipay hands keys out) or a path to a PEM file."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        return value.encode()
    if len(value) < 400 and Path(value).is_file():
        return Path(value).read_bytes()
    return value.encode()


def load_private_key(value: str) -> PrivateKey:
    data = _pem_text(value)
    if not data.startswith(b"-----BEGIN"):
        key = serialization.load_der_private_key(base64.b64decode(data), password=None)
    else:
        key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA private key is required")
    return key


def load_public_key(value: str) -> PublicKey:
    data = _pem_text(value)
    key: object
    if data.startswith(b"-----BEGIN CERTIFICATE"):
        key = x509.load_pem_x509_certificate(data).public_key()
    elif not data.startswith(b"-----BEGIN"):
        key = serialization.load_der_public_key(base64.b64decode(data))
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is required")
    return key


def rsa_sign(key: PrivateKey, message: str | bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: WeChat v3 and Alipay RSA2 alike."""
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: PublicKey, message: str | bytes, signature_b64: str) -> bool:
    data = message.encode() if isinstance(message, str) else message
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def aes_gcm_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """WeChat's AEAD_AES_256_GCM resource decryption (tag appended to the ciphertext)."""
    try:
        return AESGCM(key).decrypt(
            nonce.encode(), base64.b64decode(ciphertext_b64), associated_data.encode()
        )
    except (InvalidTag, ValueError, TypeError):
        raise ValueError("resource does not decrypt") from None


def aes_gcm_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def consteq(a: str, b: str) -> bool:
    return inputs.same_secret(a, b)


def public_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
