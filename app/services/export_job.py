"""The export job: writes an export's rows to its file in keyed batches.

A worker first claims the export (a lease in its row: one statement, so two workers
never write the same file), counts the rows in range once (progress) and fixes the
highest key then (rows added later are not in it). Each batch of `export_batch_rows`
source rows is one keyset query, written as JSON lines and compressed as one gzip
member appended to the file, flushed to disk; then the row records the batch's last
key, the file's length and the counts, and renews the lease — in one guarded UPDATE
that fails if the lease was lost.

A crash resumes from the last batch key: the next worker (the sweep picks up a lapsed
lease) cuts the file back to the length recorded with that key — dropping a member
written after it, whole or torn — and goes on from there. Gzip members one after
another are one valid gzip stream, so the file reads the same as if written in one go.

Memory holds one batch at a time, whatever the size of the export.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import orjson
from tortoise import connections

from app.domain.exports import rows
from app.domain.exports.scope import ExportFilter, ExportScope
from app.infra.config import Settings, get_settings
from app.infra.sql import fetch, run
from app.models.exports import Export, ExportKind, ExportStatus

log = logging.getLogger(__name__)

# An export whose job raised this many times is FAILED rather than tried again.
MAX_ATTEMPTS = 3
GZIP_LEVEL = 6


class LeaseLost(Exception):
    """Another worker holds the export now: this one stops without writing more."""


def file_path(export_id: int, settings: Settings | None = None) -> Path:
    return Path((settings or get_settings()).export_dir) / f"{export_id}.jsonl.gz"


_CLAIM = (
    "UPDATE exports SET status = ?, lease_token = ?, lease_until = ?, "
    "attempts = attempts + 1, started_at = COALESCE(started_at, ?) "
    "WHERE id = ? AND (status = ? OR (status = ? AND lease_until < ?))"
)
_PROGRESS = (
    "UPDATE exports SET cursor_key = ?, rows_scanned = ?, rows_written = ?, "
    "bytes_written = ?, lease_until = ? WHERE id = ? AND lease_token = ? AND status = ?"
)
_PLANNED = (
    "UPDATE exports SET upper_key = ?, total_rows = ?, lease_until = ? "
    "WHERE id = ? AND lease_token = ? AND status = ?"
)
_DONE = (
    "UPDATE exports SET status = ?, finished_at = ?, expires_at = ?, lease_token = NULL, "
    "lease_until = NULL WHERE id = ? AND lease_token = ? AND status = ?"
)
_GIVE_UP = (
    "UPDATE exports SET status = ?, failure = ?, finished_at = ?, lease_token = NULL, "
    "lease_until = NULL WHERE id = ? AND lease_token = ?"
)
_LET_GO = "UPDATE exports SET lease_until = ? WHERE id = ? AND lease_token = ?"


def _now() -> datetime:
    return datetime.now(UTC)


async def run_export(export_id: int, settings: Settings | None = None) -> ExportStatus | None:
    """Run (or resume) one export to its end; None when another worker holds it or it
    needs nothing. Never raises: a failure is recorded on the export."""
    s = settings or get_settings()
    conn = connections.get("default")
    token = secrets.token_hex(16)
    now = _now()
    claimed = await run(
        conn,
        _CLAIM,
        [
            ExportStatus.RUNNING.value,
            token,
            now + timedelta(seconds=s.export_lease_s),
            now,
            export_id,
            ExportStatus.QUEUED.value,
            ExportStatus.RUNNING.value,
            now,
        ],
    )
    if not claimed:
        return None
    try:
        await _write(conn, await Export.get(id=export_id), token, s)
        return ExportStatus.DONE
    except LeaseLost:
        return None
    except Exception as exc:  # noqa: BLE001 - recorded on the export, retried or failed
        log.warning("export %s stopped", export_id, exc_info=exc)
        return await _after_failure(conn, export_id, token, exc, s)


async def _after_failure(
    conn: object, export_id: int, token: str, exc: Exception, s: Settings
) -> ExportStatus | None:
    export = await Export.get(id=export_id)
    if export.attempts < MAX_ATTEMPTS:
        # let the lease lapse now: the sweep resumes it from its last batch
        await run(conn, _LET_GO, [_now(), export_id, token])
        return None
    await run(
        conn,
        _GIVE_UP,
        [ExportStatus.FAILED.value, type(exc).__name__[:255], _now(), export_id, token],
    )
    file_path(export_id, s).unlink(missing_ok=True)
    return ExportStatus.FAILED


async def _write(conn: object, export: Export, token: str, s: Settings) -> None:
    lease = timedelta(seconds=s.export_lease_s)
    running = ExportStatus.RUNNING.value
    src = await rows.source(
        conn,
        ExportKind(export.kind),
        ExportFilter.from_json(export.criteria),
        ExportScope.from_json(export.scope),
    )
    upper = export.upper_key
    if upper is None:
        upper = await rows.upper_key(conn, src)
        total = await rows.count(conn, src, upper)
        await _guarded(conn, _PLANNED, [upper, total, _now() + lease, export.id, token, running])
    cursor, scanned, written = export.cursor_key, export.rows_scanned, export.rows_written
    path = file_path(export.id, s)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_at(path, export.bytes_written) as fh:
        size = export.bytes_written
        while True:
            batch = await rows.batch(conn, src, cursor, upper, s.export_batch_rows)
            if not batch:
                break
            lines = [orjson.dumps(line) for r in batch for line in src.lines(r)]
            size = await asyncio.to_thread(_append, fh, lines)
            cursor, scanned, written = batch[-1]["k"], scanned + len(batch), written + len(lines)
            del batch, lines
            await _guarded(
                conn,
                _PROGRESS,
                [cursor, scanned, written, size, _now() + lease, export.id, token, running],
            )
        if size == 0:  # no rows: still a gzip file, of nothing
            size = await asyncio.to_thread(_append, fh, [])
    now = _now()
    expires = now + timedelta(seconds=s.export_keep_s)
    await _guarded(conn, _DONE, [ExportStatus.DONE.value, now, expires, export.id, token, running])
    log.info("export %s done: %s rows, %s bytes", export.id, written, size)


async def _guarded(conn: object, sql: str, values: list[object]) -> None:
    if not await run(conn, sql, values):
        raise LeaseLost()


def _open_at(path: Path, length: int) -> BinaryIO:
    """The file, cut back to the length the last recorded batch left it at."""
    fh = open(path, "r+b") if path.exists() else open(path, "w+b")  # noqa: SIM115
    fh.truncate(length)
    fh.seek(length)
    return fh


def _append(fh: BinaryIO, lines: list[bytes]) -> int:
    """One gzip member of these lines at the end of the file, on disk before the row
    says so; the file's length after it."""
    fh.write(gzip.compress(b"".join(line + b"\n" for line in lines), GZIP_LEVEL, mtime=0))
    fh.flush()
    os.fsync(fh.fileno())
    return fh.tell()


async def stalled(now: datetime | None = None) -> list[int]:
    """Exports nobody is running: queued, or running under a lease that lapsed."""
    now = now or _now()
    found = await fetch(
        connections.get("default"),
        "SELECT id FROM exports WHERE status = ? OR (status = ? AND lease_until < ?) ORDER BY id",
        [ExportStatus.QUEUED.value, ExportStatus.RUNNING.value, now],
    )
    return [int(r["id"]) for r in found]


async def purge_expired(now: datetime | None = None, settings: Settings | None = None) -> int:
    """Delete the files of exports past their expiry; the export says EXPIRED."""
    now = now or _now()
    conn = connections.get("default")
    due = await fetch(
        conn,
        "SELECT id FROM exports WHERE status = ? AND expires_at < ? ORDER BY id",
        [ExportStatus.DONE.value, now],
    )
    purged = 0
    for r in due:
        export_id = int(r["id"])
        # the row first: a link stops working before its file goes
        if await run(
            conn,
            "UPDATE exports SET status = ? WHERE id = ? AND status = ?",
            [ExportStatus.EXPIRED.value, export_id, ExportStatus.DONE.value],
        ):
            file_path(export_id, settings).unlink(missing_ok=True)
            purged += 1
    return purged
