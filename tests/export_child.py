"""Run one export in a process of its own and report its peak memory:

    python -m tests.export_child EXPORT_ID

Prints one JSON line: the resident set (KiB) just before the export, the peak resident
set during it (Linux: the peak is reset first through /proc/self/clear_refs, so what
importing and connecting took earlier does not hide what the export takes), the
export's status, rows and seconds. Used by tests/api/test_export_memory.py and bench/export_1m.py;
the database and the export directory come from the environment, as for the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path

from app.infra.db import close_db, init_db
from app.models.exports import Export
from app.services.export_job import run_export

STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    if not STATUS.exists():
        return None
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def rss_kib() -> int:
    return _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> None:
    # elsewhere the peak is the process's: an upper bound of the export's
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_kib() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def main(export_id: int) -> dict:
    await init_db()
    try:
        before = rss_kib()
        reset_peak()
        t0 = time.perf_counter()
        status = await run_export(export_id)
        seconds = time.perf_counter() - t0
        after = peak_rss_kib()
        e = await Export.get(id=export_id)
        return {
            "status": status.value if status else None,
            "rows": e.rows_written,
            "bytes": e.bytes_written,
            "seconds": round(seconds, 2),
            "rss_kib_before": before,
            "peak_rss_kib_after": after,
        }
    finally:
        await close_db()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1])))))
