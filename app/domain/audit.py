"""The admin audit trail: every admin and operator change records who, when, what, the
before and the after, and why — in the transaction of the change, so the change and its
record commit or fail together.

Entries are hash-chained: `hash = sha256(canonical JSON of [prev_hash, seq, time in µs,
actor, action, target, before, after, reason])`, and the head row (`audit_head`)
records the tip. Each append locks the head row first, so appends are serialised and the
chain has no gaps or forks; `verify` walks it and names the first entry that was edited,
removed or put in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.infra.errors import DomainError
from app.infra.sql import run
from app.models.audit import AuditEntry, AuditHead

REASON_MAX = 255
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    """Who made a change: an admin (by user id) or an operator at the CLI (no id)."""

    kind: str
    id: int | None = None

    @classmethod
    def admin(cls, user_id: int) -> Actor:
        return cls("user", user_id)

    @classmethod
    def operator(cls) -> Actor:
        return cls("operator", None)


OPERATOR = Actor.operator()


def reason_of(reason: str | None, *, required: bool) -> str:
    """A change's reason as recorded: trimmed; refused when required and missing, or too
    long to keep whole."""
    reason = (reason or "").strip()
    if required and not reason:
        raise DomainError("INVALID", "say why", "reason")
    if len(reason) > REASON_MAX:
        raise DomainError("INVALID", f"reason is longer than {REASON_MAX} characters", "reason")
    return reason


def canonical(value: Any) -> str:
    """JSON text with sorted keys and no spaces: the same value, the same text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor_kind: str,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    before: str,
    after: str,
    reason: str,
) -> str:
    content = [
        prev_hash,
        seq,
        _micros(at),
        actor_kind,
        actor_id,
        action,
        target_type,
        target_id,
        before,
        after,
        reason,
    ]
    return hashlib.sha256(canonical(content).encode()).hexdigest()


HEAD_ROW = "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING"


async def record(
    conn: Any,
    actor: Actor,
    action: str,
    target: tuple[str, Any],
    before: Any,
    after: Any,
    reason: str = "",
) -> AuditEntry:
    """Append one entry; `conn` is the change's own transaction."""
    await run(conn, HEAD_ROW)
    head = await AuditHead.filter(id=1).select_for_update().using_db(conn).get()
    seq = int(head.seq) + 1
    # microseconds are what PostgreSQL keeps, so the hash reads back as it was made
    at = datetime.now(UTC)
    target_type, target_id = target[0], str(target[1])
    before_text, after_text = canonical(before), canonical(after)
    reason = (reason or "")[:REASON_MAX]
    digest = entry_hash(
        head.hash,
        seq,
        at,
        actor.kind,
        actor.id,
        action,
        target_type,
        target_id,
        before_text,
        after_text,
        reason,
    )
    entry = await AuditEntry.create(
        seq=seq,
        at=at,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before_text,
        after=after_text,
        reason=reason,
        prev_hash=head.hash,
        hash=digest,
        using_db=conn,
    )
    await AuditHead.filter(id=1).using_db(conn).update(seq=seq, hash=digest)
    return entry


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries: int
    problem: str | None = None


BATCH = 2000


async def verify() -> AuditReport:
    """Walk the chain from its start; the first entry that does not follow, or a tip
    short of (or past) the head, is the problem."""
    # Read the head first: entries appended during the walk only lengthen the chain.
    head = await AuditHead.get_or_none(id=1)
    head_seq, head_hash = (int(head.seq), head.hash) if head is not None else (0, "")
    prev_hash, expected, hash_at_head = "", 1, ""
    while True:
        batch = await AuditEntry.filter(seq__gte=expected).order_by("seq").limit(BATCH)
        if not batch:
            break
        for e in batch:
            if e.seq != expected:
                return AuditReport(False, expected - 1, f"chain gap: expected seq {expected}")
            if e.prev_hash != prev_hash:
                return AuditReport(
                    False, expected - 1, f"entry seq {e.seq}: prev_hash does not link"
                )
            h = entry_hash(
                e.prev_hash,
                e.seq,
                e.at,
                e.actor_kind,
                e.actor_id,
                e.action,
                e.target_type,
                e.target_id,
                e.before,
                e.after,
                e.reason,
            )
            if h != e.hash:
                return AuditReport(False, expected - 1, f"entry seq {e.seq}: content was altered")
            if e.seq == head_seq:
                hash_at_head = e.hash
            prev_hash = e.hash
            expected += 1
    tip = expected - 1
    if tip < head_seq:
        return AuditReport(
            False, tip, f"chain ends at seq {tip} but its head records {head_seq}: entries removed"
        )
    if head_seq and hash_at_head != head_hash:
        return AuditReport(False, tip, f"entry seq {head_seq} is not the one its head records")
    if tip and head is None:
        return AuditReport(False, tip, "the chain head row is missing")
    # appends during the walk moved the head on; entries past it were put in by hand
    now = await AuditHead.get_or_none(id=1)
    if now is not None and tip > int(now.seq):
        return AuditReport(False, tip, f"entries past seq {now.seq}, where its head ends")
    return AuditReport(True, tip)
