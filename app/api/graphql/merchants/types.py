"""Merchant types, inputs and errors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.scalars import Int64
from app.api.graphql.core.visibility import merchant_visible
from app.domain.merchants import Location, MerchantErrorCode
from app.infra import coords
from app.models.merchants import CoordSystem, Merchant, MerchantStatus

CoordSystemEnum = strawberry.enum(CoordSystem, name="CoordSystem")
MerchantStatusEnum = strawberry.enum(MerchantStatus, name="MerchantStatus")
MerchantError = error_type("MerchantError", MerchantErrorCode)


@strawberry.type
class GeoPoint:
    lat: float
    lng: float
    coord_system: CoordSystemEnum  # type: ignore[valid-type]


@strawberry.input
class LocationInput:
    lat: Decimal
    lng: Decimal
    coord_system: CoordSystemEnum = CoordSystem.GCJ02  # type: ignore[valid-type]

    def to_domain(self) -> Location:
        return Location(self.lat, self.lng, CoordSystem(self.coord_system))


@strawberry.type(name="Merchant")
class MerchantType(relay.Node):
    id: relay.NodeID[int]
    name: str
    category: str
    address: str
    region_code: str
    discount_bps: int
    status: MerchantStatusEnum  # type: ignore[valid-type]
    rating: float = strawberry.field(
        description="Stars (0-5) from the store's reviews, smoothed toward the platform mean."
    )
    review_count: int
    created_at: datetime
    _lat: strawberry.Private[Decimal]
    _lng: strawberry.Private[Decimal]

    @strawberry.field(description="Where the store is, in the coordinate system asked for.")
    def location(self, coord_system: CoordSystemEnum = CoordSystem.GCJ02) -> GeoPoint:  # type: ignore[valid-type]
        lat, lng = float(self._lat), float(self._lng)
        if coord_system != CoordSystem.GCJ02:
            lat, lng = coords.convert(lat, lng, "GCJ02", CoordSystem(coord_system).value)
        return GeoPoint(lat=lat, lng=lng, coord_system=coord_system)

    @classmethod
    def from_model(cls, m: Merchant) -> MerchantType:
        return cls(
            id=m.id,
            name=m.name,
            category=m.category,
            address=m.address,
            region_code=m.region_code,
            discount_bps=m.discount_bps,
            status=m.status,
            rating=m.rating_x100 / 100,
            review_count=m.review_count,
            created_at=m.created_at,
            _lat=m.lat,
            _lng=m.lng,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        rows = {m.id: m for m in await Merchant.filter(id__in=[int(i) for i in node_ids])}
        principal = info.context.principal
        return [
            cls.from_model(m)
            if (m := rows.get(int(i))) is not None and merchant_visible(principal, m)
            else None
            for i in node_ids
        ]


@strawberry.input
class ApplyMerchantInput:
    name: str
    category: str
    address: str
    location: LocationInput
    region_code: str = strawberry.field(description="GB/T 2260, 6 digits")
    discount_bps: int | None = None
    recruiter_id: strawberry.ID | None = strawberry.field(
        default=None, description="The user who brought this merchant in (招商)."
    )


@strawberry.input
class UpdateMerchantInput:
    """Only the fields given change (absent = untouched)."""

    name: strawberry.Maybe[str]
    category: strawberry.Maybe[str]
    address: strawberry.Maybe[str]
    location: strawberry.Maybe[LocationInput]
    region_code: strawberry.Maybe[str] = strawberry.field(
        description="GB/T 2260: a district (or a city with none below it)."
    )


@strawberry.type
class MerchantSuccess:
    merchant: MerchantType


@strawberry.type
class PosDeviceRegistered:
    device_id: strawberry.ID
    serial: str
    secret: str = strawberry.field(description="Shown once: store it on the device.")


@strawberry.type
class StaffAdded:
    merchant: MerchantType
    user_id: strawberry.ID


@strawberry.type
class BindSuccess:
    merchant: MerchantType
    bound_at: datetime


@strawberry.type
class BindQr:
    payload: str
    expires_at: datetime = strawberry.field(
        description="Scans are refused from then on: show a fresh one before."
    )


@strawberry.type
class MerchantWallet:
    """A store's balances: fen for CNY and vouchers, centi for points."""

    payable_fen: Int64 = strawberry.field(description="What the platform records it is owed.")
    vouchers_fen: int
    vouchers_pending_fen: int
    points_pending: int
    points_active: int
    traffic_points: int


@strawberry.type
class VouchersMoved:
    store_vouchers_left_fen: int


MerchantResult = Annotated[
    MerchantSuccess | MerchantError,  # type: ignore[valid-type]
    strawberry.union("MerchantResult"),
]
PosDeviceResult = Annotated[
    PosDeviceRegistered | MerchantError,  # type: ignore[valid-type]
    strawberry.union("PosDeviceResult"),
]
StaffResult = Annotated[StaffAdded | MerchantError, strawberry.union("StaffResult")]  # type: ignore[valid-type]
BindResult = Annotated[BindSuccess | MerchantError, strawberry.union("BindResult")]  # type: ignore[valid-type]
BindQrResult = Annotated[BindQr | MerchantError, strawberry.union("BindQrResult")]  # type: ignore[valid-type]
VouchersMovedResult = Annotated[
    VouchersMoved | MerchantError,  # type: ignore[valid-type]
    strawberry.union("VouchersMovedResult"),
]
