"""Discovery: nearby merchants (public), heat map, traffic points, merchant dashboard."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Annotated, cast

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.adapters.discovery import heatmap as heat
from app.adapters.discovery import nearby as near
from app.adapters.discovery import stats
from app.adapters.discovery.errors import DiscoveryErrorCode
from app.adapters.discovery.index import active_boost_until
from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id, encode_id
from app.api.graphql.core.pagination import (
    Connection,
    Edge,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_size,
)
from app.api.graphql.core.permissions import (
    IsMerchant,
    IsMerchantOwner,
    PartnerScope,
    has_role,
    partner_of,
    user_of,
)
from app.api.graphql.core.visibility import partner_merchant
from app.api.graphql.discovery.types import (
    BBoxInput,
    BoostResult,
    DailyStats,
    DiscoveryError,
    ExposureBoost,
    HeatCell,
    Heatmap,
    MerchantStats,
    NearbyMerchant,
    ScoreParts,
    TrafficPoints,
)
from app.api.graphql.merchants.types import CoordSystemEnum, LocationInput
from app.api.graphql.runtime.selection import selects_any
from app.domain.policy import get_policy
from app.infra.coords import CoordSystem, convert
from app.infra.limits import subject_key
from app.models.merchants import Merchant
from app.models.users import Role
from app.services import discovery, traffic

on_error = handles_errors(DiscoveryError, DiscoveryErrorCode)
CanReadHeatmap = has_role(Role.AGENT, Role.MERCHANT_OWNER)
CURSOR_FIELDS = frozenset({"cursor", "endCursor"})


@functools.lru_cache(maxsize=65536)
def _merchant_gid(merchant_id: int) -> relay.GlobalID:
    """The same merchants come back page after page: their (immutable) IDs are kept."""
    return encode_id("Merchant", merchant_id)


class _NearbyNode:
    """A `NearbyMerchant` read from its page item: each field is worked out only if the
    query selects it (a page is 20 of them; most queries select a few of 13 fields).
    GraphQL reads a field by attribute, and calls `NearbyMerchant.merchant` with this
    node as its `self`."""

    __slots__ = ("_out", "_x")

    def __init__(self, x: near.NearbyItem, out: CoordSystem) -> None:
        self._x, self._out = x, out

    @property
    def merchant_id(self) -> relay.GlobalID:
        return _merchant_gid(self._x.merchant_id)

    @property
    def name(self) -> str:
        return self._x.name

    @property
    def category(self) -> str:
        return self._x.category

    @property
    def address(self) -> str:
        return self._x.address

    def _position(self) -> tuple[float, float]:
        x = self._x
        if self._out is CoordSystem.GCJ02:
            return x.lat, x.lng
        return convert(x.lat, x.lng, CoordSystem.GCJ02, self._out)

    @property
    def lat(self) -> float:
        return self._position()[0]

    @property
    def lng(self) -> float:
        return self._position()[1]

    @property
    def coord_system(self) -> CoordSystem:
        return self._out

    @property
    def discount_bps(self) -> int:
        return self._x.discount_bps

    @property
    def rating(self) -> float:
        return self._x.rating_x100 / 100

    @property
    def distance_m(self) -> float:
        return round(self._x.distance_m, 2)

    @property
    def score(self) -> float:
        return round(self._x.parts.total, 6)

    @property
    def score_parts(self) -> ScoreParts:
        p = self._x.parts
        return ScoreParts(
            distance=p.distance, discount=p.discount, heat=p.heat, rating=p.rating, boost=p.boost
        )

    @property
    def boosted_until(self) -> datetime | None:
        until = self._x.boost_until
        return datetime.fromtimestamp(until, UTC) if until else None


def _nearby_node(x: near.NearbyItem, out: CoordSystem) -> NearbyMerchant:
    return cast(NearbyMerchant, _NearbyNode(x, out))


async def _merchant_for_reader(info: Info, merchant_id: InputID | None) -> int:
    user = user_of(info)
    if merchant_id is None:
        m = await traffic.owned_merchant(user.user_id, user.role, None)
        return m.id
    mid = decode_id(merchant_id, "Merchant", "merchantId")
    await stats.can_read_stats(mid, user.user_id, user.role)
    return mid


@strawberry.type
class DiscoveryQuery:
    @strawberry.field(
        description=(
            "Approved merchants within `radiusM` metres, best first (score: distance decay, "
            "discount, recent order heat, rating, active boost). Cursors stay stable while "
            "scrolling (10 minutes)."
        )
    )
    async def nearby_merchants(
        self,
        info: Info,
        location: LocationInput,
        radius_m: int = near.DEFAULT_RADIUS_M,
        category: str | None = None,
        first: int | None = 20,
        after: str | None = None,
        output_coord_system: CoordSystemEnum = CoordSystem.GCJ02,  # type: ignore[valid-type]
    ) -> Connection[NearbyMerchant]:
        # A query that selects no cursor cannot scroll: no snapshot, no cursors to encode.
        # Only a signed-in client's scroll is kept (a few per client); an anonymous one
        # gets position cursors that recompute the ranking (app/adapters/discovery/nearby.py).
        cursors = selects_any(info, CURSOR_FIELDS)
        principal = info.context.principal
        page = await discovery.nearby(
            float(location.lat),
            float(location.lng),
            location.coord_system,
            radius_m=radius_m,
            category=category,
            first=page_size(first),
            after=decode_cursor(after) if after is not None else None,
            cursors=cursors,
            owner=subject_key(principal) if principal is not None else None,
        )
        out = CoordSystem(output_coord_system)
        edges = [
            Edge(cursor=encode_cursor(x.position) if cursors else "", node=_nearby_node(x, out))
            for x in page.items
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=page.total,
        )

    @strawberry.field(
        permission_classes=[CanReadHeatmap],
        description=(
            "Paid orders and amounts per H3 cell over a time window (whole hours). "
            "Admins, agents and merchant owners; resolution 4..8 (9 for admins)."
        ),
    )
    async def consumption_heatmap(
        self,
        info: Info,
        bbox: BBoxInput,
        since: datetime,
        resolution: int = 7,
        until: datetime | None = None,
        output_coord_system: CoordSystemEnum = CoordSystem.GCJ02,  # type: ignore[valid-type]
    ) -> Heatmap:
        is_admin = user_of(info).is_admin
        h = await heat.heatmap(
            south=bbox.south,
            west=bbox.west,
            north=bbox.north,
            east=bbox.east,
            coord_system=bbox.coord_system,
            resolution=resolution,
            since=since,
            until=until,
            output=output_coord_system,
            max_resolution=heat.BASE_RESOLUTION if is_admin else heat.MAX_PUBLIC_RESOLUTION,
        )
        return Heatmap(
            resolution=h.resolution,
            since=h.since,
            until=h.until,
            coord_system=output_coord_system,
            total_orders=h.total_orders,
            total_amount_fen=h.total_amount_fen,
            cells=[
                HeatCell(
                    cell=c.cell, lat=c.lat, lng=c.lng, orders=c.orders, amount_fen=c.amount_fen
                )
                for c in h.cells
            ],
        )

    @strawberry.field(
        permission_classes=[IsMerchant | PartnerScope("read:stats")],
        description=(
            "A merchant's figures over days `from`..`to` (Asia/Shanghai, inclusive); to a "
            "partner app, of a merchant it was given."
        ),
    )
    async def merchant_stats(
        self,
        info: Info,
        merchant_id: InputID,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> MerchantStats:
        partner = partner_of(info)
        if partner is not None:
            mid = decode_id(merchant_id, "Merchant", "merchantId")
            await partner_merchant(partner, mid, "merchantId")
        else:
            mid = await _merchant_for_reader(info, merchant_id)
        s = await stats.merchant_stats(mid, from_, to)
        return MerchantStats(
            merchant_id=encode_id("Merchant", mid),
            date_from=s.date_from,
            date_to=s.date_to,
            sales_fen=s.sales_fen,
            orders=s.orders,
            customers=s.customers,
            new_customers=s.new_customers,
            returning_customers=s.returning_customers,
            repurchase_rate_bps=s.repurchase_rate_bps,
            points_issued=s.points_issued,
            vouchers_redeemed_fen=s.vouchers_redeemed_fen,
            daily=[
                DailyStats(day=d.day, sales_fen=d.sales_fen, orders=d.orders, customers=d.customers)
                for d in s.daily
            ],
        )

    @strawberry.field(
        permission_classes=[IsMerchant],
        description="A merchant's traffic points and boost (its owner's only merchant if omitted).",
    )
    async def traffic_points(self, info: Info, merchant_id: InputID | None = None) -> TrafficPoints:
        mid = await _merchant_for_reader(info, merchant_id)
        until = await active_boost_until(mid)
        p = get_policy().traffic
        return TrafficPoints(
            merchant_id=encode_id("Merchant", mid),
            balance=await traffic.traffic_balance(mid),
            boosted_until=datetime.fromtimestamp(until, UTC) if until else None,
            boost_points_per_hour=p.boost_points_per_hour,
            boost_max_hours=p.boost_max_hours,
        )


@strawberry.type
class DiscoveryMutation:
    @strawberry.mutation(
        permission_classes=[IsMerchantOwner],
        description=(
            "Spend traffic points (centi) for `hours` of ranking boost; `points` must equal "
            "the policy price. The same `idempotencyKey` never pays twice (with other terms it is "
            "refused: IDEMPOTENCY_KEY_REUSED)."
        ),
    )
    @on_error
    async def boost_exposure(
        self,
        info: Info,
        points: int,
        hours: int,
        idempotency_key: str,
        merchant_id: InputID | None = None,
    ) -> BoostResult:
        user = user_of(info)
        mid = decode_id(merchant_id, "Merchant", "merchantId") if merchant_id else None
        merchant: Merchant = await traffic.owned_merchant(user.user_id, user.role, mid)
        b = await traffic.boost_exposure(
            merchant,
            points=points,
            hours=hours,
            by_user_id=user.user_id,
            idempotency_key=idempotency_key,
        )
        return ExposureBoost(
            merchant_id=encode_id("Merchant", merchant.id),
            points=b.points,
            hours=b.hours,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            traffic_points_left=await traffic.traffic_balance(merchant.id),
        )
