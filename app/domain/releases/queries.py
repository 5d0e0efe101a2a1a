"""What users may see about pools and their releases (SPEC §10 transparency, §11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.domain.policy import BPS, Policy, get_policy
from app.domain.releases import rules
from app.domain.releases.engine import (
    POOLS,
    active_points,
    get_pool,
    pool_available,
    pool_size,
    today,
)
from app.infra.errors import DomainError, NotFound
from app.models.orders import PointLot
from app.models.releases import Release

PROJECTION_DISCLAIMER = (
    "A projection, not a promise: it assumes every future release grows the pool by the "
    "given rate. Releases depend entirely on future consumption; when growth slows they "
    "come later and smaller, and when funds are short every payment is scaled down."
)


@dataclass(frozen=True)
class PoolStatus:
    name: str
    size: int
    previous_size: int
    growth: Decimal
    growth_threshold_bps: int
    release_count: int
    index: Decimal  # shown at 18 decimals
    earliest_next_release_on: date
    due_on: date | None
    available_fen: int
    active_points: int
    point_value_fen: Decimal | None  # per point (100 centi), 平川
    last_scale_factor: Decimal | None
    pool_id: int


async def pool_status(name: str, policy: Policy | None = None) -> PoolStatus:
    policy = policy or get_policy()
    pool = await get_pool(name)
    size = await pool_size(name, policy)
    prev = pool.last_size or policy.pools[name].virtual_start_points  # type: ignore[index]
    rp = policy.release
    anchor = pool.anchor_on or today()
    min_days, _ = rp.intervals_for(pool.release_count + 1)
    earliest = pool.due_on or rules.next_working_day(anchor + timedelta(days=min_days))
    available = await pool_available(name)
    active = await active_points(name)
    value = None
    if rp.show_point_value and active > 0:
        value = (Decimal(available) * 100 / Decimal(active)).quantize(Decimal("0.0001"))
    return PoolStatus(
        name=name,
        size=size,
        previous_size=prev,
        growth=rules.growth(size, prev),
        growth_threshold_bps=rp.growth_threshold_bps,
        release_count=pool.release_count,
        index=rules.shown_index(Decimal(pool.index)),
        earliest_next_release_on=earliest,
        due_on=pool.due_on,
        available_fen=available,
        active_points=active,
        point_value_fen=value,
        last_scale_factor=pool.last_scale,
        pool_id=pool.id,
    )


async def all_pools(policy: Policy | None = None) -> list[PoolStatus]:
    return [await pool_status(n, policy) for n in POOLS]


@dataclass(frozen=True)
class LotProjection:
    lot_id: int
    growth_bps: int
    releases: list[rules.ProjectedRelease]
    disclaimer: str = PROJECTION_DISCLAIMER


async def lot_projection(
    lot: PointLot, growth_bps: int, policy: Policy | None = None
) -> LotProjection:
    """The lot's remaining schedule under an assumed growth per release, computed by the
    engine's own rules (`rules.project_lot`)."""
    if not 0 <= growth_bps <= 10 * BPS:
        raise DomainError("INVALID", "growthBps must be between 0 and 100000", "growthBps")
    if lot.pool not in POOLS:
        raise NotFound("lot", "lotId")
    policy = policy or get_policy()
    if lot.status not in ("active", "pending"):
        return LotProjection(lot.id, growth_bps, [])
    pool = await get_pool(lot.pool)
    index_f = None
    if lot.first_release_no is not None:
        rel = await Release.get_or_none(pool_id=pool.id, release_no=lot.first_release_no)
        index_f = Decimal(rel.index_after) if rel else Decimal(lot.first_index or 1)
    schedule = rules.project_lot(
        policy,
        points=lot.points,
        released_units=lot.released_units,
        release_count=lot.release_count,
        index_f=index_f,
        index_now=Decimal(pool.index),
        growth_bps=growth_bps,
        pool_release_count=pool.release_count,
    )
    return LotProjection(lot.id, growth_bps, schedule)
