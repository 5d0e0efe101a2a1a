"""Partner app types: the app as admins see it, its one-time secret, its read audit, and
the summaries partner apps read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.api.graphql.core.errors import error_type
from app.api.graphql.core.ids import encode_id
from app.api.graphql.core.scalars import Int64
from app.domain.partners import PartnerErrorCode
from app.infra.config import get_settings
from app.models.partners import PartnerApp, PartnerReadAudit

PartnerError = error_type("PartnerError", PartnerErrorCode)


@strawberry.type(name="PartnerApp")
class PartnerAppType:
    id: relay.GlobalID
    name: str
    client_id: str
    scopes: list[str]
    merchant_ids: list[relay.GlobalID] = strawberry.field(description="Merchants given by id.")
    region_codes: list[str] = strawberry.field(
        description="GB/T 2260 regions given: every merchant whose code is in one."
    )
    cost_capacity: int = strawberry.field(description="Its cost bucket's size, in points.")
    cost_restore_rate: int = strawberry.field(description="Points restored a second.")
    active: bool
    revoked_at: datetime | None
    revoked_reason: str | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until when the secret before the last rotation is still taken."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, app: PartnerApp) -> PartnerAppType:
        s = get_settings()
        return cls(
            id=encode_id("PartnerApp", app.id),
            name=app.name,
            client_id=app.client_id,
            scopes=app.scopes.split(),
            merchant_ids=[encode_id("Merchant", m) for m in app.merchant_ids or []],
            region_codes=list(app.region_codes or []),
            cost_capacity=app.cost_capacity or s.partner_cost_capacity,
            cost_restore_rate=app.cost_restore_rate or s.partner_cost_restore_rate,
            active=app.is_active,
            revoked_at=app.revoked_at,
            revoked_reason=app.revoked_reason,
            secret_rotated_at=app.secret_rotated_at,
            previous_secret_expires_at=app.previous_secret_expires_at,
            created_at=app.created_at,
        )


@strawberry.type
class PartnerAppCreated:
    app: PartnerAppType
    client_id: str
    client_secret: str = strawberry.field(
        description="Shown this once: only its hash is kept. Rotate it if it is lost."
    )


@strawberry.type
class PartnerSecretRotated:
    app: PartnerAppType
    client_secret: str = strawberry.field(description="Shown this once.")


@strawberry.type
class PartnerAppRevoked:
    app: PartnerAppType


@strawberry.type
class PartnerReadEntry:
    id: relay.GlobalID
    app_id: relay.GlobalID
    operation_name: str | None
    operation_type: str | None
    document_sha256: str | None = strawberry.field(description="SHA-256 of the document text.")
    requested_cost: int
    actual_cost: int | None
    throttled: bool
    request_id: str
    at: datetime

    @classmethod
    def from_model(cls, row: PartnerReadAudit) -> PartnerReadEntry:
        return cls(
            id=encode_id("PartnerReadEntry", row.id),
            app_id=encode_id("PartnerApp", row.app_id),
            operation_name=row.operation_name,
            operation_type=row.operation_type,
            document_sha256=row.document_sha256,
            requested_cost=row.requested_cost,
            actual_cost=row.actual_cost,
            throttled=row.throttled,
            request_id=row.request_id,
            at=row.at,
        )


@strawberry.type
class MerchantPointsSummary:
    merchant_id: relay.GlobalID
    points_pending: Int64 = strawberry.field(description="The store's own, centi-points.")
    points_active: Int64 = strawberry.field(description="The store's own, centi-points.")
    consumer_points_issued: Int64 = strawberry.field(
        description="Centi-points its orders gave consumers (lots not cancelled)."
    )
    consumer_lots: int


@strawberry.type
class MerchantReleaseSummary:
    merchant_id: relay.GlobalID
    payments: int = strawberry.field(description="Release payments to the store's lots.")
    paid_units: Int64 = strawberry.field(description="Their total, in fen of value.")
    voucher_units: Int64
    shopping_units: Int64


CreatePartnerAppResult = Annotated[
    PartnerAppCreated | PartnerError,  # type: ignore[valid-type]
    strawberry.union("CreatePartnerAppResult"),
]
RotatePartnerSecretResult = Annotated[
    PartnerSecretRotated | PartnerError,  # type: ignore[valid-type]
    strawberry.union("RotatePartnerSecretResult"),
]
RevokePartnerAppResult = Annotated[
    PartnerAppRevoked | PartnerError,  # type: ignore[valid-type]
    strawberry.union("RevokePartnerAppResult"),
]
