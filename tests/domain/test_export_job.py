"""The export job at size: memory flat in the export's size, and a worker killed
mid-file resumed from its last batch with every row exactly once.

Postings are made by one INSERT … SELECT over generate_series (they need not balance
here: the export reads rows, it checks no sums). The export runs in a child process
(tests/export_child.py) so its peak RSS is its own.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from tortoise import connections

from app import worker as jobs
from app.domain.exports.scope import EVERYTHING, ExportFilter
from app.infra.config import Settings
from app.models.exports import Export, ExportKind, ExportStatus
from app.services import exports as exporting
from app.services.export_job import file_path, run_export

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
FROM = datetime(2025, 3, 1, tzinfo=UTC)
# Peak RSS an export may add, whatever its size (a batch of rows, the driver's buffers)
MEMORY_BOUND_KIB = 60 * 1024
POSTINGS_PER_ENTRY = 10


async def seed_postings(n: int) -> None:
    """n more postings between two accounts, 10 per entry, one second apart."""
    conn = connections.get("default")
    await conn.execute_script(
        "INSERT INTO ledger_accounts (name, asset, balance, allow_negative, created_at) "
        "VALUES ('bulk:from', 'CNY', 0, true, now()), ('bulk:to', 'CNY', 0, false, now()) "
        "ON CONFLICT DO NOTHING;"
        "CREATE TEMP TABLE new_entries AS WITH made AS ("
        " INSERT INTO ledger_entries (kind, ref, memo, posting_count, postings_digest, "
        " prev_hash, hash, created_at) "
        f" SELECT 'bulk', 'bulk:' || g, '', {POSTINGS_PER_ENTRY}, '', '', '', "
        "  TIMESTAMPTZ '2025-03-01 00:00+00' + g * interval '1 second' "
        f" FROM generate_series(1, {n // POSTINGS_PER_ENTRY}) g RETURNING id) "
        "SELECT id FROM made;"
        "INSERT INTO ledger_postings (entry_id, source_id, destination_id, asset, amount) "
        "SELECT e.id, (SELECT id FROM ledger_accounts WHERE name = 'bulk:from'), "
        "(SELECT id FROM ledger_accounts WHERE name = 'bulk:to'), 'CNY', 100 + (e.id + k) % 997 "
        f"FROM new_entries e CROSS JOIN generate_series(1, {POSTINGS_PER_ENTRY}) k "
        "ORDER BY e.id, k;"
        "DROP TABLE new_entries; ANALYZE ledger_postings; ANALYZE ledger_entries;"
    )


async def ledger_export(key: str) -> Export:
    f = ExportFilter(FROM, FROM + timedelta(days=3650))
    return await Export.create(
        requester="user:1",
        idempotency_key=key,
        kind=ExportKind.LEDGER,
        criteria=f.to_json(),
        scope=EVERYTHING.to_json(),
    )


def child(export_id: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.export_child", str(export_id)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )


async def measured(export_id: int) -> dict:
    proc = child(export_id)
    out, _ = await asyncio.to_thread(proc.communicate)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def posting_ids(path: Path) -> list[int]:
    """The ids of the file's lines, read as a stream."""
    with gzip.open(path, "rb") as fh:
        return [orjson.loads(line)["id"] for line in fh]


async def test_memory_is_flat_from_100k_to_1m_postings(db) -> None:
    sizes: dict[str, dict] = {}
    made = 0
    for key, total in (("100k", 100_000), ("1m", 1_000_000)):
        await seed_postings(total - made)
        made = total
        export = await ledger_export(key)
        report = await measured(export.id)
        assert report["status"] == "done", report
        assert report["rows"] == total
        report["delta_kib"] = report["peak_rss_kib_after"] - report["rss_kib_before"]
        sizes[key] = report
        print(key, report)
    for key, report in sizes.items():
        assert report["delta_kib"] < MEMORY_BOUND_KIB, (key, report)
    # ten times the rows, not ten times the memory: within a few MB of the small one
    assert sizes["1m"]["delta_kib"] - sizes["100k"]["delta_kib"] < 16 * 1024, sizes
    # every posting once, in key order (streamed from the file, not loaded)
    with gzip.open(file_path((await Export.get(idempotency_key="1m")).id), "rb") as fh:
        n, last = 0, 0
        for line in fh:
            key_ = orjson.loads(line)["id"]
            assert key_ > last
            n, last = n + 1, key_
    assert n == 1_000_000


async def test_a_worker_killed_mid_file_is_resumed_from_its_last_batch(db) -> None:
    await seed_postings(200_000)
    export = await ledger_export("crash")
    proc = child(export.id, EXPORT_BATCH_ROWS="2000", EXPORT_LEASE_S="2")
    try:
        for _ in range(600):
            await asyncio.sleep(0.05)
            e = await Export.get(id=export.id)
            if e.rows_scanned >= 20_000:
                break
        else:
            raise AssertionError("the child wrote nothing")
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
    killed = await Export.get(id=export.id)
    assert killed.status == ExportStatus.RUNNING
    assert 0 < killed.cursor_key < 200_000
    # a torn member after the last recorded batch, as a crash mid-write leaves it
    with open(file_path(export.id), "ab") as fh:
        fh.write(b"\x1f\x8b\x08torn")

    if killed.lease_until > datetime.now(UTC):  # held until it lapses: nobody else writes
        assert await run_export(export.id) is None
    lapses = (await Export.get(id=export.id)).lease_until
    await asyncio.sleep(max(0.0, (lapses - datetime.now(UTC)).total_seconds()) + 0.1)
    assert await run_export(export.id) == ExportStatus.DONE

    done = await Export.get(id=export.id)
    assert done.attempts == 2
    assert done.rows_written == 200_000
    ids = posting_ids(file_path(export.id))
    first = await connections.get("default").execute_query_dict(
        "SELECT MIN(id) AS lo FROM ledger_postings"
    )
    lo = int(first[0]["lo"])
    assert ids == list(range(lo, lo + 200_000))  # each once, in order, none torn


@pytest.mark.redis
async def test_the_arq_worker_runs_a_queued_export_once(db) -> None:
    settings = Settings(export_queue="arq")
    await seed_postings(1_000)
    export = await ledger_export("arq")
    await exporting.dispatch(export.id, settings)
    await exporting.dispatch(export.id, settings)  # queued twice: one job
    worker = Worker(
        functions=[jobs.run_export],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    done = await Export.get(id=export.id)
    assert (done.status, done.rows_written, done.attempts) == (ExportStatus.DONE, 1_000, 1)
    assert len(posting_ids(file_path(export.id))) == 1_000
