"""Pools, my releases and lot projections: read-only transparency queries."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import strawberry
from strawberry.types import Info

from app.api.graphql.core.ids import InputID, decode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import IsConsumer, IsUser, user_of
from app.api.graphql.orders.access import can_read_lot
from app.api.graphql.releases.types import LotProjectionType, PoolType, ReleasePaymentType
from app.domain.merchants import owned_merchant
from app.domain.releases.queries import all_pools, lot_projection
from app.infra.errors import NotFound
from app.models.orders import PointLot
from app.models.releases import Pool, Release, ReleasePayment


async def _payments_to_nodes(rows: Sequence[ReleasePayment]) -> list[ReleasePaymentType]:
    releases = {r.id: r for r in await Release.filter(id__in={p.release_id for p in rows})}
    pools = {p.id: p for p in await Pool.all()}
    # I_f of each payment: the index of its lot's first release in the same pool.
    wanted = {(r.pool_id, p.first_release_no) for p in rows for r in [releases[p.release_id]]}  # type: ignore[attr-defined]
    firsts: dict[tuple[int, int], Decimal] = {}
    if wanted:
        for r in await Release.filter(
            pool_id__in={w[0] for w in wanted}, release_no__in={w[1] for w in wanted}
        ).values("pool_id", "release_no", "index_after"):
            firsts[(r["pool_id"], r["release_no"])] = Decimal(r["index_after"])
    out = []
    for p in rows:
        rel = releases[p.release_id]
        pool_id = rel.pool_id  # type: ignore[attr-defined]
        out.append(
            ReleasePaymentType.build(
                p, rel, pools[pool_id].name, firsts.get((pool_id, p.first_release_no))
            )
        )
    return out


@strawberry.type
class ReleaseQuery:
    @strawberry.field(
        permission_classes=[IsUser],
        description="Both pools: size, growth, threshold, next release, index, funds.",
    )
    async def pools(self) -> list[PoolType]:
        return [PoolType.from_status(s) for s in await all_pools()]

    @strawberry.field(
        permission_classes=[IsConsumer],
        description=(
            "Every release payment to your lots (or, with merchantId, to the lots of a "
            "store you own or work at), newest first, with its inputs."
        ),
    )
    async def my_releases(
        self,
        info: Info,
        merchant_id: InputID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[ReleasePaymentType]:
        uid = user_of(info).user_id
        if merchant_id is not None:
            mid = decode_id(merchant_id, "Merchant", "merchantId")
            await owned_merchant(uid, mid, staff_ok=True)
            qs = ReleasePayment.filter(holder_kind="merchant", holder_id=mid)
        else:
            qs = ReleasePayment.filter(holder_kind="consumer", holder_id=uid)
        return await paginate(qs, first, after, _payments_to_nodes, batch=True)

    @strawberry.field(
        permission_classes=[IsUser],
        description=(
            "A lot's projected schedule if every future release grows the pool by "
            "growthBps. Depends entirely on future growth: not a promise."
        ),
    )
    async def lot_projection(
        self, info: Info, lot_id: InputID, growth_bps: int
    ) -> LotProjectionType:

        lot = await PointLot.get_or_none(id=decode_id(lot_id, "PointLot", "lotId"))
        if lot is None or not await can_read_lot(info, lot):
            raise NotFound("lot", "lotId")
        projection = await lot_projection(lot, growth_bps)
        return LotProjectionType.from_projection(projection, lot.released_units)
