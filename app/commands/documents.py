"""CLI: `register-documents PATH` registers the first-party clients' GraphQL documents
(the allow-list of `TRUSTED_DOCUMENTS_ONLY`; app/api/persisted.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.api import persisted
from app.commands import command
from app.infra.config import get_settings
from app.infra.redis import close_redis


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        type=Path,
        help=(
            "a directory of .graphql files (each file one document, sent as its whole "
            "text) or a JSON manifest {sha256: document} (graphql-codegen's "
            "persisted-documents.json with hashAlgorithm sha256)"
        ),
    )


def documents_at(path: Path) -> list[str]:
    """The documents a directory or a manifest holds; ValueError names what is wrong."""
    if path.is_dir():
        return [f.read_text(encoding="utf-8") for f in sorted(path.rglob("*.graphql"))]
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not all(isinstance(d, str) for d in manifest.values()):
        raise ValueError(f"{path}: a manifest is a JSON object of hash -> document")
    for sha, document in manifest.items():
        if persisted.digest(document) != sha:
            raise ValueError(f"{path}: {sha} is not the sha256 of its document")
    return list(manifest.values())


@command("register-documents", "register first-party GraphQL documents (allow-list)", _args)
async def cmd_register_documents(ns: argparse.Namespace) -> int:
    try:
        documents = documents_at(ns.path)
    except (OSError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    try:
        hashes = await persisted.register(documents, get_settings())
    finally:
        await close_redis()
    for sha in hashes:
        print(sha)
    print(f"{len(hashes)} documents registered", file=sys.stderr)
    return 0
