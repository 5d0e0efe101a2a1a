"""Discovery types: nearby merchants, heat map, traffic points, merchant dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.adapters.discovery.errors import DiscoveryErrorCode
from app.api.graphql.core.errors import error_type, graphql_enum
from app.api.graphql.core.loaders import merchant_loader
from app.api.graphql.core.scalars import Int64
from app.api.graphql.core.visibility import merchant_visible
from app.api.graphql.merchants.types import CoordSystemEnum, MerchantType
from app.models.merchants import CoordSystem

DiscoveryError = error_type("DiscoveryError", DiscoveryErrorCode)
graphql_enum(DiscoveryErrorCode)


@strawberry.input
class BBoxInput:
    south: float
    west: float
    north: float
    east: float
    coord_system: CoordSystemEnum = CoordSystem.GCJ02  # type: ignore[valid-type]


@strawberry.type
class ScoreParts:
    """The parts of a nearby ranking score (each in [0, its weight]); see README."""

    distance: float
    discount: float
    heat: float
    rating: float
    boost: float


@strawberry.type
class NearbyMerchant:
    merchant_id: relay.GlobalID
    name: str
    category: str
    address: str
    lat: float
    lng: float
    coord_system: CoordSystemEnum  # type: ignore[valid-type]
    discount_bps: int
    rating: float
    distance_m: float = strawberry.field(description="Metres from the asked location.")
    score: float
    score_parts: ScoreParts = strawberry.field(description="Why it ranks where it does.")
    boosted_until: datetime | None

    @strawberry.field(description="The merchant itself (one batched database read per page).")
    async def merchant(self, info: Info) -> MerchantType | None:
        m = await merchant_loader(info).load(int(self.merchant_id.node_id))
        if m is None or not merchant_visible(info.context.principal, m):
            return None
        return MerchantType.from_model(m)


@strawberry.type
class HeatCell:
    cell: str = strawberry.field(description="H3 cell index.")
    lat: float
    lng: float
    orders: int
    amount_fen: Int64


@strawberry.type
class Heatmap:
    resolution: int
    since: datetime
    until: datetime
    coord_system: CoordSystemEnum  # type: ignore[valid-type]
    total_orders: int
    total_amount_fen: Int64
    cells: list[HeatCell]


@strawberry.type
class DailyStats:
    day: date
    sales_fen: Int64
    orders: int
    customers: int


@strawberry.type
class MerchantStats:
    merchant_id: relay.GlobalID
    date_from: date
    date_to: date
    sales_fen: Int64 = strawberry.field(description="Net of refunds.")
    orders: int
    customers: int
    new_customers: int
    returning_customers: int
    repurchase_rate_bps: int
    points_issued: Int64 = strawberry.field(description="Centi-points, to consumers.")
    vouchers_redeemed_fen: Int64
    daily: list[DailyStats]


@strawberry.type
class ExposureBoost:
    merchant_id: relay.GlobalID
    points: int
    hours: int
    starts_at: datetime
    ends_at: datetime
    traffic_points_left: Int64


@strawberry.type
class TrafficPoints:
    merchant_id: relay.GlobalID
    balance: Int64 = strawberry.field(description="Centi traffic points.")
    boosted_until: datetime | None
    boost_points_per_hour: int
    boost_max_hours: int


BoostResult = Annotated[
    ExposureBoost | DiscoveryError,  # type: ignore[valid-type]
    strawberry.union("BoostResult"),
]
