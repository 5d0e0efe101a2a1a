"""The read audit of partner apps: one row per GraphQL request of a partner, written after
the response, in batches, and kept for `partner_read_audit_keep_days`.

`record` only appends to this process's buffer and makes sure one writer task is on
its way; the writer inserts everything buffered in one statement, and again while rows
keep coming. A request never waits for its row, and a failed write is logged and
dropped: the audit never costs a partner its answer. Rows still buffered when the
process stops are written by `drain` (the app's shutdown awaits it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.infra.config import get_settings
from app.models.partners import OPERATION_NAME_MAX, PartnerReadAudit

log = logging.getLogger(__name__)

_INT_MAX = 2**31 - 1
BATCH_MAX = 500


@dataclass(frozen=True, slots=True)
class Read:
    app_id: int
    operation_name: str | None
    operation_type: str | None
    document_sha256: str | None
    requested_cost: int
    actual_cost: int | None
    throttled: bool
    request_id: str
    at: datetime


_buffer: list[Read] = []
_writer: asyncio.Task[None] | None = None


def record(read: Read) -> None:
    """Keep the row for the writer (never raises, never waits)."""
    global _writer
    _buffer.append(read)
    loop = asyncio.get_running_loop()
    if _writer is None or _writer.done() or _writer.get_loop() is not loop:
        _writer = loop.create_task(_write())


async def drain() -> None:
    """Wait until every row recorded so far is written (or given up on)."""
    while _writer is not None and not _writer.done():
        await asyncio.shield(_writer)
    if _buffer:
        await _write()


async def _write() -> None:
    while _buffer:
        batch = _buffer[:BATCH_MAX]
        del _buffer[:BATCH_MAX]
        try:
            await PartnerReadAudit.bulk_create([_row(r) for r in batch])
        except Exception as exc:  # noqa: BLE001 - the audit never fails a request
            log.warning(
                "partner read audit: %d rows not written: %s", len(batch), type(exc).__name__
            )


def _row(r: Read) -> PartnerReadAudit:
    return PartnerReadAudit(
        app_id=r.app_id,
        operation_name=(r.operation_name or None) and r.operation_name[:OPERATION_NAME_MAX],
        operation_type=r.operation_type,
        document_sha256=r.document_sha256,
        requested_cost=min(r.requested_cost, _INT_MAX),
        actual_cost=None if r.actual_cost is None else min(r.actual_cost, _INT_MAX),
        throttled=r.throttled,
        request_id=r.request_id[:64],
        at=r.at,
    )


async def prune(now: datetime | None = None) -> int:
    """Delete the rows older than the retention period; how many went."""
    keep = timedelta(days=get_settings().partner_read_audit_keep_days)
    cutoff = (now or datetime.now(UTC)) - keep
    return await PartnerReadAudit.filter(at__lt=cutoff).delete()
