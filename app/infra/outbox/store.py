"""The SQL of the outbox tables (`outbox_events`, `outbox_deliveries`): the only module
that writes them.

An event is written by the change it reports, in the same transaction — or, for a
change made in one statement (a payment), as one more typed write of that statement
(`columns`: the row a ledger entry's `Insert` makes, only with the entry). Its id is
made here, so the writer reads nothing back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uuid6

from app.infra.config import get_settings
from app.infra.sql import fetch, run


def new_id() -> uuid.UUID:
    """A time-ordered id (UUIDv7, RFC 9562): events written one after another land at
    the right edge of the primary key's index, where a random (v4) id would dirty a
    random page of it with every event."""
    return uuid.UUID(int=uuid6.uuid7().int)


@dataclass(frozen=True)
class Event:
    kind: str  # `order.paid`: a noun and what happened to it, past tense
    subject: str  # what it is about: `order:42`
    payload: dict[str, Any]
    id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def event(kind: str, subject: str, **payload: Any) -> Event:
    return Event(kind, subject, payload)


_COLUMNS = "id, kind, subject, payload, created_at, due_at, attempts"
_ROW = "?::uuid, ?::text, ?::text, ?::jsonb, ?::timestamptz, ?::timestamptz, 0"


def _values(e: Event) -> list[Any]:
    # the sweep leaves an event to the in-process delivery for this long
    grace = timedelta(seconds=get_settings().outbox_grace_s)
    return [e.id, e.kind, e.subject, json.dumps(e.payload), e.created_at, e.created_at + grace]


def columns(e: Event) -> dict[str, Any]:
    """The event's row, column by column: for a typed insert made in another statement
    (a ledger entry's gated writes)."""
    grace = timedelta(seconds=get_settings().outbox_grace_s)
    return {
        "id": e.id,
        "kind": e.kind,
        "subject": e.subject,
        "payload": e.payload,
        "created_at": e.created_at,
        "due_at": e.created_at + grace,
        "attempts": 0,
    }


async def write(conn: Any, events: Sequence[Event]) -> None:
    """The events, in the caller's transaction."""
    if not events:
        return
    rows = ", ".join([f"({_ROW})"] * len(events))
    await run(
        conn,
        f"INSERT INTO outbox_events ({_COLUMNS}) VALUES {rows}",
        [v for e in events for v in _values(e)],
    )


async def mark_done(conn: Any, ids: Iterable[uuid.UUID]) -> None:
    await run(
        conn,
        "UPDATE outbox_events SET done_at = now() WHERE id = ANY(?::uuid[]) AND done_at IS NULL",
        [list(ids)],
    )


async def record_deliveries(conn: Any, event_id: uuid.UUID, consumers: Sequence[str]) -> None:
    """These consumers have the event (its others not yet)."""
    if not consumers:
        return
    await run(
        conn,
        "INSERT INTO outbox_deliveries (event_id, consumer, delivered_at) "
        "SELECT ?::uuid, c, now() FROM unnest(?::text[]) AS c "
        "ON CONFLICT (event_id, consumer) DO NOTHING",
        [event_id, list(consumers)],
    )


@dataclass(frozen=True)
class Due:
    event: Event
    delivered_to: frozenset[str]
    attempts: int


async def claim_due(conn: Any, kinds: Sequence[str], limit: int, retry: timedelta) -> list[Due]:
    """Undone events of these kinds that are due, oldest first, each moved out of reach
    of other sweeps for `retry` × 2^attempts (capped at a day): a sweep that dies
    midway leaves them to a later one. With the consumers that have each already."""
    rows = await fetch(
        conn,
        "WITH due AS (SELECT id FROM outbox_events WHERE done_at IS NULL AND due_at <= now() "
        "AND kind = ANY(?::text[]) ORDER BY due_at LIMIT ?::int FOR UPDATE SKIP LOCKED) "
        "UPDATE outbox_events e SET attempts = e.attempts + 1, due_at = now() + "
        "least(?::float8 * power(2, e.attempts), 86400) * interval '1 second' FROM due "
        "WHERE e.id = due.id RETURNING e.id, e.kind, e.subject, e.payload, e.created_at, "
        "e.attempts, ARRAY(SELECT d.consumer FROM outbox_deliveries d WHERE d.event_id = e.id) "
        "AS delivered_to",
        [list(kinds), limit, retry.total_seconds()],
    )
    return sorted(
        (
            Due(
                Event(r["kind"], r["subject"], _payload(r["payload"]), r["id"], r["created_at"]),
                frozenset(r["delivered_to"] or ()),
                int(r["attempts"]),
            )
            for r in rows
        ),
        key=lambda d: d.event.created_at,
    )


async def retire_unwatched(conn: Any, watched: Sequence[str]) -> int:
    """Events of kinds no consumer watches are done once due (nobody is owed them)."""
    return await run(
        conn,
        "UPDATE outbox_events SET done_at = now() WHERE done_at IS NULL AND due_at <= now() "
        "AND NOT (kind = ANY(?::text[]))",
        [list(watched)],
    )


async def purge(conn: Any, before: datetime) -> int:
    """Forget events done before `before` (their delivery records go with them)."""
    return await run(
        conn, "DELETE FROM outbox_events WHERE done_at IS NOT NULL AND done_at < ?", [before]
    )


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value)


def derived_insert(e: Event, subject: str, payload: str, source: str) -> tuple[str, list[Any]]:
    """The event's insert as one more CTE of its change's statement, its subject and
    payload SQL expressions over `source` (that statement's rows: an id it makes).
    `e.subject` and `e.payload` are ignored."""
    return (
        f"INSERT INTO outbox_events ({_COLUMNS}) SELECT ?::uuid, ?::text, {subject}, "
        f"{payload}, ?::timestamptz, ?::timestamptz, 0 FROM {source}",
        [v for i, v in enumerate(_values(e)) if i not in (2, 3)],
    )
