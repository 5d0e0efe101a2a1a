"""Documents sent by their sha256: automatic persisted queries (APQ) and trusted documents.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` (Apollo's APQ
protocol). With the hash alone, the document is looked up: one the first-party clients
registered (`python -m app.cli register-documents`, kept until replaced), else one a
client sent before with its hash (kept `APQ_TTL_S`); none: PERSISTED_QUERY_NOT_FOUND,
and the client sends the hash with the document, which is checked against the hash and
kept. In allow-list mode (`TRUSTED_DOCUMENTS_ONLY`, for production) only registered
documents run: a document sent in full, or a hash nobody registered, is refused.
A client's document is kept only once it parsed and validated (and after the request's
budget was spent), so a hash names only a document that ran."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from app.infra.config import Settings
from app.infra.errors import DomainError
from app.infra.redis import get_redis

log = logging.getLogger(__name__)

FIELD = "extensions.persistedQuery"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DocumentRefused(DomainError):
    """A request whose document cannot be had: refused before execution."""


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _trusted_key(settings: Settings, sha: str) -> str:
    return f"{settings.persisted_redis_prefix}:trusted:{sha}"


def _apq_key(settings: Settings, sha: str) -> str:
    return f"{settings.persisted_redis_prefix}:apq:{sha}"


async def document_of(
    query: Any, extensions: dict[str, Any] | None, settings: Settings
) -> tuple[Any, str | None]:
    """The document to run for a request's `query` and `extensions`: the query itself
    when no hash is sent (outside allow-list mode), else the document the hash names;
    and the hash to `remember` the document by once it ran, if the client sent both.
    A `query` that is not text is handed back as it is, for the view to refuse."""
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if persisted is None:
        if settings.trusted_documents_only:
            raise DocumentRefused(
                "TRUSTED_DOCUMENT_REQUIRED", "only registered documents run here", FIELD
            )
        return query, None
    sha = _hash_of(persisted)
    if isinstance(query, str):
        if digest(query) != sha:
            raise DocumentRefused(
                "PERSISTED_QUERY_HASH_MISMATCH", "sha256Hash is not the document's", FIELD
            )
        if not settings.trusted_documents_only:
            return query, sha
        if await _lookup(_trusted_key(settings, sha)) is None:
            raise DocumentRefused(
                "TRUSTED_DOCUMENT_REQUIRED", "only registered documents run here", FIELD
            )
        return query, None
    if query is not None:
        return query, None
    document = await _lookup(_trusted_key(settings, sha))
    if document is None and not settings.trusted_documents_only:
        document = await _lookup(_apq_key(settings, sha))
    if document is None:
        raise DocumentRefused(
            "PERSISTED_QUERY_NOT_FOUND", "no document is known by this hash", FIELD
        )
    return document, None


def _hash_of(persisted: Any) -> str:
    sha = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if (
        not isinstance(persisted, dict)
        or persisted.get("version") != 1
        or not isinstance(sha, str)
        or not _SHA256.fullmatch(sha.lower())
    ):
        raise DocumentRefused(
            "PERSISTED_QUERY_INVALID",
            "persistedQuery must have version 1 and a sha256Hash of 64 hex digits",
            FIELD,
        )
    return sha.lower()


async def _lookup(key: str) -> str | None:
    try:
        return await get_redis().get(key)
    except RedisError as exc:
        # the client falls back to sending the document (outside allow-list mode)
        log.warning("persisted documents unreachable: %s", type(exc).__name__)
        return None


async def remember(sha: str, document: str, settings: Settings) -> None:
    """Keep a client's document under its hash (it ran: it parsed and validated)."""
    try:
        await get_redis().set(_apq_key(settings, sha), document, ex=settings.apq_ttl_s)
    except RedisError as exc:  # the document runs all the same; the next hash misses
        log.warning("persisted documents unreachable: %s", type(exc).__name__)


async def register(documents: Iterable[str], settings: Settings) -> list[str]:
    """Register the first-party clients' documents (idempotent); their hashes."""
    mapping = {_trusted_key(settings, digest(d)): d for d in documents}
    if mapping:
        await get_redis().mset(mapping)
    return [key.rsplit(":", 1)[1] for key in mapping]
