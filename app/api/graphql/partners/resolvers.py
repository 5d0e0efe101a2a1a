"""Partner apps: the admins' mutations and queries, and what partner apps read beside the
fields of other domains that serve them too (`merchant`, `merchantOrders`,
`merchantStats`)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info
from tortoise.functions import Count, Sum

from app.api.graphql.core.errors import handles_errors
from app.api.graphql.core.ids import InputID, decode_id, encode_id
from app.api.graphql.core.pagination import Connection, paginate
from app.api.graphql.core.permissions import (
    IsAdmin,
    IsMerchant,
    PartnerScope,
    partner_of,
    user_of,
)
from app.api.graphql.core.visibility import partner_merchant, partner_merchants
from app.api.graphql.merchants.types import MerchantType
from app.api.graphql.partners.types import (
    CreatePartnerAppResult,
    MerchantPointsSummary,
    MerchantReleaseSummary,
    PartnerAppCreated,
    PartnerAppRevoked,
    PartnerAppType,
    PartnerError,
    PartnerReadEntry,
    PartnerSecretRotated,
    RevokePartnerAppResult,
    RotatePartnerSecretResult,
)
from app.domain import partners
from app.domain.audit import Actor
from app.domain.ledger import acct, balances_named
from app.domain.merchants import owned_merchant
from app.domain.partners import PartnerErrorCode
from app.models.merchants import Merchant
from app.models.orders import HolderKind, LotStatus, PointLot
from app.models.partners import PartnerApp, PartnerReadAudit
from app.models.releases import ReleasePayment

on_error = handles_errors(PartnerError, PartnerErrorCode)


def _app_id(gid: InputID) -> int:
    return decode_id(gid, "PartnerApp", "appId")


def _node(app: PartnerApp) -> PartnerAppType:
    return PartnerAppType.from_model(app)


async def _readable_merchant(info: Info, merchant_id: InputID) -> int:
    """A merchant whose figures the caller reads: one given to the partner app, or one
    the user owns or works at (any, for admins)."""
    mid = decode_id(merchant_id, "Merchant", "merchantId")
    partner = partner_of(info)
    if partner is not None:
        await partner_merchant(partner, mid, "merchantId")
        return mid
    user = user_of(info)
    if not user.is_admin:
        await owned_merchant(user.user_id, mid, staff_ok=True)
    return mid


@strawberry.type
class PartnerQuery:
    @strawberry.field(permission_classes=[IsAdmin], description="Partner apps, newest first.")
    async def partner_apps(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[PartnerAppType]:
        return await paginate(PartnerApp.all(), first, after, _node)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="What a partner app read: one entry per request, newest first.",
    )
    async def partner_read_audit(
        self, info: Info, app_id: InputID, first: int | None = 20, after: str | None = None
    ) -> Connection[PartnerReadEntry]:
        qs = PartnerReadAudit.filter(app_id=_app_id(app_id))
        return await paginate(qs, first, after, PartnerReadEntry.from_model)

    @strawberry.field(
        permission_classes=[IsAdmin | PartnerScope("read:merchants")],
        description="Merchants in any state: to a partner app, those it was given.",
    )
    async def merchants(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[MerchantType]:
        partner = partner_of(info)
        qs = Merchant.all() if partner is None else partner_merchants(partner)
        return await paginate(qs, first, after, MerchantType.from_model)

    @strawberry.field(
        permission_classes=[IsMerchant | PartnerScope("read:points")],
        description="A store's points: its own, and what its orders gave consumers.",
    )
    async def merchant_points_summary(
        self, info: Info, merchant_id: InputID
    ) -> MerchantPointsSummary:
        mid = await _readable_merchant(info, merchant_id)
        own = await balances_named(
            pending=acct.merchant_points(mid, "pending"),
            active=acct.merchant_points(mid, "active"),
        )
        issued = (
            await PointLot.filter(holder_kind=HolderKind.CONSUMER, order__merchant_id=mid)
            .exclude(status=LotStatus.CANCELLED)
            .annotate(n=Count("id"), total=Sum("points"))
            .values("n", "total")
        )
        return MerchantPointsSummary(
            merchant_id=encode_id("Merchant", mid),
            points_pending=own["pending"],
            points_active=own["active"],
            consumer_points_issued=int(issued[0]["total"] or 0) if issued else 0,
            consumer_lots=int(issued[0]["n"] or 0) if issued else 0,
        )

    @strawberry.field(
        permission_classes=[IsMerchant | PartnerScope("read:releases")],
        description="What releases paid to a store's lots, in total.",
    )
    async def merchant_release_summary(
        self, info: Info, merchant_id: InputID
    ) -> MerchantReleaseSummary:
        mid = await _readable_merchant(info, merchant_id)
        rows = (
            await ReleasePayment.filter(holder_kind=HolderKind.MERCHANT.value, holder_id=mid)
            .annotate(
                n=Count("id"),
                paid=Sum("paid_units"),
                vouchers=Sum("voucher_units"),
                shopping=Sum("shopping_units"),
            )
            .values("n", "paid", "vouchers", "shopping")
        )
        row = rows[0] if rows else {}
        return MerchantReleaseSummary(
            merchant_id=encode_id("Merchant", mid),
            payments=int(row.get("n") or 0),
            paid_units=int(row.get("paid") or 0),
            voucher_units=int(row.get("vouchers") or 0),
            shopping_units=int(row.get("shopping") or 0),
        )


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "A new partner app with its scopes and what it may see (merchants, GB/T 2260 "
            "regions). Answers its client id and secret; the secret is shown once."
        ),
    )
    @on_error
    async def create_partner_app(
        self,
        info: Info,
        name: str,
        scopes: list[str],
        merchant_ids: list[InputID] | None = None,
        region_codes: list[str] | None = None,
        cost_capacity: int | None = None,
        cost_restore_rate: int | None = None,
    ) -> CreatePartnerAppResult:
        issued = await partners.create_app(
            name,
            scopes,
            merchant_ids=[decode_id(m, "Merchant", "merchantIds") for m in merchant_ids or []],
            region_codes=region_codes or [],
            cost_capacity=cost_capacity,
            cost_restore_rate=cost_restore_rate,
            by_user_id=user_of(info).user_id,
            actor=Actor.admin(user_of(info).user_id),
        )
        return PartnerAppCreated(
            app=_node(issued.app), client_id=issued.app.client_id, client_secret=issued.secret
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description=(
            "A new client secret (shown once); the current one keeps working for "
            "graceSeconds (0: stops now)."
        ),
    )
    @on_error
    async def rotate_partner_secret(
        self, info: Info, app_id: InputID, grace_seconds: int
    ) -> RotatePartnerSecretResult:
        issued = await partners.rotate_secret(
            _app_id(app_id), grace_seconds, actor=Actor.admin(user_of(info).user_id)
        )
        return PartnerSecretRotated(app=_node(issued.app), client_secret=issued.secret)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Stop a partner app: no new token, its tokens refused from now on.",
    )
    @on_error
    async def revoke_partner_app(
        self, info: Info, app_id: InputID, reason: str
    ) -> RevokePartnerAppResult:
        return PartnerAppRevoked(
            app=_node(
                await partners.revoke_app(
                    _app_id(app_id), reason, actor=Actor.admin(user_of(info).user_id)
                )
            )
        )
