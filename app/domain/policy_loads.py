"""Policy loads in the admin audit trail: which policy file a process runs with, its
SHA-256, who loaded it and when.

A process loads its policy (`POLICY`: a preset of `policies/` or an operator's file)
when it starts; the API and the worker record the load then, and an operator records
one by hand with `python -m app.cli load-policy --reason …` before a rollout. An entry
is written only when the policy differs from the last one recorded (another name, or
the same file edited): a hundred restarts on the same file leave one entry, and an
edited file cannot go live unseen. The check and the append happen under the audit
trail's head lock, so processes starting together record one change once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from typing import Any

from tortoise.transactions import in_transaction

from app.domain import audit
from app.domain.audit import OPERATOR, Actor
from app.domain.policy import load_policy, policy_path
from app.infra.config import get_settings
from app.infra.sql import run
from app.models.audit import AuditEntry, AuditHead

ACTION = "loadPolicy"


def fingerprint(source: str) -> dict[str, Any]:
    """What the trail keeps of a policy file: its name, source and SHA-256. The file is
    validated first (PolicyError names the field of a bad one)."""
    policy = load_policy(source)
    path = policy_path(source)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"name": policy.name, "source": source, "file": path.name, "sha256": digest}


async def record_load(
    source: str | None = None,
    *,
    by: str,
    actor: Actor = OPERATOR,
    reason: str = "",
) -> AuditEntry | None:
    """Record that `by` (`api`, `worker`, `cli`) loads the policy `source` (default:
    the settings' `POLICY`); the entry, or None when the last load recorded was this
    very policy."""
    source = source or get_settings().policy
    after = {**fingerprint(source), "loaded_by": by, "host": socket.gethostname()}
    after["pid"] = os.getpid()
    async with in_transaction() as conn:
        await run(conn, audit.HEAD_ROW)
        await AuditHead.filter(id=1).select_for_update().using_db(conn).get()
        last = await AuditEntry.filter(action=ACTION).using_db(conn).order_by("-seq").first()
        before: dict[str, Any] = json.loads(last.after) if last is not None else {}
        if before.get("sha256") == after["sha256"] and before.get("name") == after["name"]:
            return None
        return await audit.record(
            conn, actor, ACTION, ("Policy", after["name"]), before, after, reason
        )
