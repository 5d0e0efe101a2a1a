"""Starting exports and handing them to a worker.

`start_export` checks the filter, answers a repeated request with the export it made
(per requester and idempotency key), fixes the requester's scope and queues the job:
on the arq worker (`export_queue = "arq"`), or as a task of this process ("local", for
dev and tests) running the same `run_export`. Either way a job that is lost — a
process that stops, Redis down when it was queued — is picked up by the worker's sweep
(`resume_stalled`), which resumes it from its last batch.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from arq.connections import ArqRedis, RedisSettings, create_pool
from tortoise.exceptions import IntegrityError

from app.domain.exports import links
from app.domain.exports.scope import ExportErrorCode, ExportFilter, check_filter, scope_for
from app.domain.principals import Principal, UserPrincipal
from app.infra.config import Settings, get_settings
from app.infra.errors import DomainError
from app.models.exports import Export, ExportKind, ExportStatus
from app.services.export_job import run_export, stalled

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 64
JOB = "run_export"

# local runs, kept so a task is not collected mid-run and a caller can wait for it
_local: dict[int, asyncio.Task] = {}
_pools: dict[str, ArqRedis] = {}


async def start_export(
    principal: Principal | None, kind: ExportKind, f: ExportFilter, idempotency_key: str
) -> Export:
    key = (idempotency_key or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise DomainError(
            "INVALID", "idempotencyKey is 1 to 64 printable characters", "idempotencyKey"
        )
    f = check_filter(kind, f)
    requester = principal.key if principal is not None else ""
    existing = await Export.get_or_none(requester=requester, idempotency_key=key)
    if existing is not None:
        return _same(existing, kind, f)
    scope = await scope_for(principal, kind, f)
    try:
        export = await Export.create(
            requester=requester,
            idempotency_key=key,
            kind=kind,
            criteria=f.to_json(),
            scope=scope.to_json(),
        )
    except IntegrityError:  # the same request, made concurrently, got there first
        return _same(await Export.get(requester=requester, idempotency_key=key), kind, f)
    await dispatch(export.id)
    return export


def _same(existing: Export, kind: ExportKind, f: ExportFilter) -> Export:
    if existing.kind != kind or existing.criteria != f.to_json():
        raise DomainError(
            ExportErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for another export",
            "idempotencyKey",
        )
    return existing


async def dispatch(export_id: int, settings: Settings | None = None) -> None:
    s = settings or get_settings()
    if s.export_queue == "local":
        task = asyncio.create_task(run_export(export_id, s))
        _local[export_id] = task
        task.add_done_callback(lambda _t: _local.pop(export_id, None))
        return
    try:
        pool = await _pool(s)
        # one job per export: arq drops a second enqueue of the same id
        await pool.enqueue_job(JOB, export_id, _job_id=f"export:{export_id}")
    except Exception as exc:  # noqa: BLE001 - queued in its row; the sweep runs it
        log.warning("export %s not handed to the worker", export_id, exc_info=exc)


async def _pool(s: Settings) -> ArqRedis:
    pool = _pools.get(s.redis_url)
    if pool is None:
        pool = _pools[s.redis_url] = await create_pool(RedisSettings.from_dsn(s.redis_url))
    return pool


async def settled(export_id: int) -> None:
    """Wait for this process's run of an export, if there is one."""
    task = _local.get(export_id)
    if task is not None:
        await asyncio.shield(task)


async def resume_stalled(settings: Settings | None = None) -> int:
    """Run every export nobody is running (queued and lost, or a worker that died)."""
    done = 0
    for export_id in await stalled():
        if await run_export(export_id, settings) is not None:
            done += 1
    return done


def may_read(principal: Principal | None, export: Export) -> bool:
    """An export is its requester's (and admins')."""
    if principal is None:
        return False
    admin = isinstance(principal, UserPrincipal) and principal.is_admin
    return export.requester == principal.key or admin


def url_of(export: Export, now: datetime | None = None) -> tuple[str, datetime] | None:
    """A fresh signed link to a finished export's file, and when the link expires."""
    now = now or datetime.now(UTC)
    if export.status != ExportStatus.DONE or export.expires_at is None:
        return None
    if export.expires_at <= now:
        return None
    return links.link(export.id, export.expires_at, now)
