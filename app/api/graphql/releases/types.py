# mypy: disable-error-code="valid-type"
"""GraphQL types of pools, releases and release payments (transparency, SPEC §4, §10)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.scalars import Int64
from app.domain.releases import rules
from app.domain.releases.queries import LotProjection, PoolStatus
from app.models.releases import Release, ReleasePayment


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value).normalize():f}"


@strawberry.type(name="Release", description="One release of a pool, with every input.")
class ReleaseType(relay.Node):
    id: relay.NodeID[int]
    pool: str
    release_no: int
    status: str
    trigger: str = strawberry.field(description="growth, or max_interval (released anyway).")
    condition_on: date
    run_on: date
    size: Int64 = strawberry.field(description="Pool size S at the release, centi-points.")
    previous_size: Int64 = strawberry.field(description="S0, the size at the last release.")
    growth: str = strawberry.field(description="g = (S - S0) / S0, exact decimal.")
    index_growth: str = strawberry.field(description="min(g, max_index_growth).")
    index_before: str
    index_after: str = strawberry.field(description="I_k, shown at 18 decimals.")
    scale_factor: str = strawberry.field(description="s: 1 unless funds were short.")
    available_before_fen: Int64
    budget_fen: Int64 = strawberry.field(description="At most this could be paid.")
    requested_fen: Int64 = strawberry.field(description="What the formula asked for.")
    paid_fen: Int64
    voucher_fen: Int64
    shopping_fen: Int64
    subsidy_fen: Int64
    cohort_bonus_fen: Int64
    lots_paid: int
    lots_exited: int
    lots_expired: int
    valves: JSON = strawberry.field(description="Safety valves and whether they bound.")

    @classmethod
    def from_model(cls, r: Release, pool: str) -> ReleaseType:
        return cls(
            id=r.id,
            pool=pool,
            release_no=r.release_no,
            status=str(r.status),
            trigger=r.trigger,
            condition_on=r.condition_on,
            run_on=r.run_on,
            size=r.size,
            previous_size=r.prev_size,
            growth=_dec(r.growth) or "0",
            index_growth=_dec(r.index_growth) or "0",
            index_before=str(rules.shown_index(Decimal(r.index_before))),
            index_after=str(rules.shown_index(Decimal(r.index_after))),
            scale_factor=_dec(r.scale_factor) or "1",
            available_before_fen=r.available_before_fen,
            budget_fen=r.budget_fen,
            requested_fen=r.requested_fen,
            paid_fen=r.paid_fen,
            voucher_fen=r.voucher_fen,
            shopping_fen=r.shopping_fen,
            subsidy_fen=r.subsidy_fen,
            cohort_bonus_fen=r.cohort_bonus_fen,
            lots_paid=r.lots_paid,
            lots_exited=r.lots_exited,
            lots_expired=r.lots_expired,
            valves=r.valves or {},  # type: ignore[arg-type]
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        rows = {
            x.id: x
            for x in await Release.filter(id__in=[int(i) for i in node_ids]).prefetch_related(
                "pool"
            )
        }
        return [
            cls.from_model(rows[int(i)], rows[int(i)].pool.name) if int(i) in rows else None
            for i in node_ids
        ]


@strawberry.type(name="ReleasePayment", description="What one lot received at one release.")
class ReleasePaymentType:
    id: strawberry.ID
    kind: str = strawberry.field(description="regular, or cohort_bonus.")
    lot_id: relay.GlobalID
    points: Int64
    first_release_no: int = strawberry.field(description="f: the lot's first release.")
    release: ReleaseType = strawberry.field(description="The release and its inputs.")
    index_multiplier: str = strawberry.field(description="I_k / I_f at this release.")
    formula_units: Int64 = strawberry.field(
        description="floor(P x base rate x I_k / I_f), capped: before scaling and valves."
    )
    paid_units: Int64 = strawberry.field(description="Paid, in fen of value.")
    voucher_units: Int64
    shopping_units: Int64
    status_after: str

    @classmethod
    def build(
        cls, p: ReleasePayment, rel: Release, pool: str, index_f: Decimal | None
    ) -> ReleasePaymentType:
        i_k = Decimal(rel.index_after)
        ratio = rules.index_ratio(i_k, index_f) if index_f else Decimal(1)
        return cls(
            id=strawberry.ID(str(p.id)),
            kind=p.kind,
            lot_id=relay.GlobalID("PointLot", str(p.lot_id)),
            points=p.points,
            first_release_no=p.first_release_no,
            release=ReleaseType.from_model(rel, pool),
            index_multiplier=str(ratio),
            formula_units=p.formula_units,
            paid_units=p.paid_units,
            voucher_units=p.voucher_units,
            shopping_units=p.shopping_units,
            status_after=p.status_after,
        )


@strawberry.type(name="Pool", description="A points pool: its size, growth, index and funds.")
class PoolType:
    name: str
    size: Int64 = strawberry.field(description="Virtual start + every point made active.")
    size_at_last_release: Int64
    growth_since_last_release: str = strawberry.field(description="Exact decimal (0.15 = 15%).")
    growth_threshold_bps: int
    release_count: int
    index: str = strawberry.field(description="I, shown at 18 decimals; starts at 1.")
    earliest_next_release_on: date = strawberry.field(
        description="Earliest day the next release can fall on (a due release: its day)."
    )
    due_on: date | None
    available_fen: Int64 = strawberry.field(description="pool:available, CNY in fen.")
    active_points: Int64
    point_value_fen: str | None = strawberry.field(
        description="Fen per point = available / active points (平川); null if not shown."
    )
    last_scale_factor: str | None
    pool_id: strawberry.Private[int]

    @classmethod
    def from_status(cls, s: PoolStatus) -> PoolType:
        return cls(
            name=s.name,
            size=s.size,
            size_at_last_release=s.previous_size,
            growth_since_last_release=_dec(s.growth) or "0",
            growth_threshold_bps=s.growth_threshold_bps,
            release_count=s.release_count,
            index=str(s.index),
            earliest_next_release_on=s.earliest_next_release_on,
            due_on=s.due_on,
            available_fen=s.available_fen,
            active_points=s.active_points,
            point_value_fen=_dec(s.point_value_fen),
            last_scale_factor=_dec(s.last_scale_factor),
            pool_id=s.pool_id,
        )

    @strawberry.field(description="The pool's releases, newest first.")
    async def releases(
        self, first: int | None = 20, after: str | None = None
    ) -> Connection[ReleaseType]:
        name = self.name
        return await paginate(
            Release.filter(pool_id=self.pool_id),
            first,
            after,
            lambda r: ReleaseType.from_model(r, name),
        )


@strawberry.type(name="ProjectedRelease")
class ProjectedReleaseType:
    release_no: int = strawberry.field(description="Counted from the lot's first release.")
    index_multiplier: str
    units: Int64
    cumulative_units: Int64
    status: str


@strawberry.type(name="LotProjection")
class LotProjectionType:
    lot_id: relay.GlobalID
    growth_bps: int
    depends_on_future_growth: bool = strawberry.field(
        description="Always true: a projection is not a promise."
    )
    disclaimer: str
    releases: list[ProjectedReleaseType]
    total_units: Int64 = strawberry.field(description="Where the lot would end, in fen.")

    @classmethod
    def from_projection(cls, p: LotProjection, released_units: int) -> LotProjectionType:
        return cls(
            lot_id=relay.GlobalID("PointLot", str(p.lot_id)),
            growth_bps=p.growth_bps,
            depends_on_future_growth=True,
            disclaimer=p.disclaimer,
            releases=[
                ProjectedReleaseType(
                    release_no=r.release_no,
                    index_multiplier=str(r.index_multiplier),
                    units=r.units,
                    cumulative_units=r.cumulative_units,
                    status=r.status,
                )
                for r in p.releases
            ],
            total_units=p.releases[-1].cumulative_units if p.releases else released_units,
        )
